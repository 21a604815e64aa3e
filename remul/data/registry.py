"""The data manifest: every file REMUL uses, its public source, and its pinned checksum.

Paths are relative to a data root, the same layout in the cache (``remul data``) and in a local
source folder (``remul data --from DIR``, e.g. ``../shared/data``)::

    mocap/subject35_walk_raw/35.asf, 35_XX.amc   CMU subject 35 (walk), raw ASF/AMC
    mocap/split.pkl                              GMN walk split
    mocap/motion_run.pkl, mocap/split_run.pkl    GMN/EGNO subject 9 (run) and its split
    md17/splits/{molecule}_split.pkl             GMN MD17 splits
    md17/md17_{molecule}.npz                     MD17 trajectories (sgdml.org)

The sha256 values of the mocap files and of all split files are pinned (they were computed on the
public copies). The MD17 trajectories could not be downloaded where this manifest was written, so
their sha256 is NOT pinned (``None``): for them ``remul data`` checks only that the file is a
readable ``.npz`` with ``R`` (frames, atoms, 3) and ``z`` (atoms,), and says so. Pin them by
setting ``sha256`` once you have verified a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

CMU_URL = "http://mocap.cs.cmu.edu/subjects/35/{name}"
# Pinned commits of the public repositories that hold the GMN / EGNO files.
GMN_URL = "https://raw.githubusercontent.com/hanjq17/GMN/0125a04f3182f8f246cf3ec6d305e5dbf3047d12/"
EGNO_URL = (
    "https://raw.githubusercontent.com/MinkaiXu/EGNO/15ee2cebca01d547e5b20c5c5dabf1d110216ed9/"
)
GDML_URL = "http://quantum-machine.org/gdml/data/npz/{name}"

WALK_TRIALS = tuple(f"35_{i:02d}" for i in [*range(1, 17), *range(28, 35)])

# molecule name (as in the split files) -> MD17 trajectory file names, preferred first.
MD17_MOLECULES: dict[str, tuple[str, ...]] = {
    "aspirin": ("md17_aspirin.npz", "aspirin_dft.npz"),
    # the original (2017) benzene trajectory of GMN/EGNO; md17_benzene2017.npz is a different run
    "benzene_old": ("benzene_old_dft.npz", "md17_benzene_old.npz"),
    "ethanol": ("md17_ethanol.npz", "ethanol_dft.npz"),
    "malonaldehyde": ("md17_malonaldehyde.npz", "malonaldehyde_dft.npz"),
    "naphthalene": ("md17_naphthalene.npz", "naphthalene_dft.npz"),
    "salicylic": ("md17_salicylic.npz", "salicylic_dft.npz"),
    "toluene": ("md17_toluene.npz", "toluene_dft.npz"),
    "uracil": ("md17_uracil.npz", "uracil_dft.npz"),
}

# relative path -> (sha256, size in bytes), computed on the public files.
_PINNED: dict[str, tuple[str, int]] = {
    "md17/splits/aspirin_split.pkl": (
        "03b5e24c40c337d74d9340b25f64fc9acfccc0e84fb81bf77f261f78c3db715c",
        307064,
    ),
    "md17/splits/benzene_old_split.pkl": (
        "ffc87c968966131269fc8625dd9eadd6b579a967603854791cc359762beaf82c",
        973016,
    ),
    "md17/splits/ethanol_split.pkl": (
        "aff2c5dce2b9a207f7105f7d74aa90862fc8496aa48bc4389609f12150d6614e",
        856384,
    ),
    "md17/splits/malonaldehyde_split.pkl": (
        "66608ee3e1bbd6440028e3337c28f3eafdcfb61d64161309479a0238cdeb50b3",
        1557410,
    ),
    "md17/splits/naphthalene_split.pkl": (
        "1a37bd5c8effd61e64d56cea08e906577875b101c4dba1a2ca42e4c76855a69e",
        490232,
    ),
    "md17/splits/salicylic_split.pkl": (
        "7a70e2172e571837f2c0a9d49efbd8aad3454b6eff7f0daf8b7ee5015112ddbb",
        480608,
    ),
    "md17/splits/toluene_split.pkl": (
        "dc10ebfe4372ee83a9243892b308bae5a7257ead455abdbff345b08148d15ed9",
        676696,
    ),
    "md17/splits/uracil_split.pkl": (
        "96cf9d863793652b51ef08e272647a9632f7a3159fe504ff9adb16990afd1ac4",
        182246,
    ),
    "mocap/motion_run.pkl": (
        "0d299bb8f9e20478b79a3d93170191cc2fb5913494b699349c672101ea75d1d0",
        1143657,
    ),
    "mocap/split.pkl": (
        "28457502799bd8f25628ae43d39b68bf8f28131dad762bf06563a49faaeee7a1",
        19336,
    ),
    "mocap/split_run.pkl": (
        "a7a78a05981e14629b5e71d4bb015ea70769c8a08cb7700efc5658a04f0ed10c",
        7556,
    ),
    "mocap/subject35_walk_raw/35.asf": (
        "9b4888836cbd13cdab14a86c53a6b7765ccae48ddc7075d8c5e03ac34bc08364",
        6923,
    ),
    "mocap/subject35_walk_raw/35_01.amc": (
        "efe882ca211915da0c70d7a1ac565660c75e373171f64e199ede283b921850d3",
        276245,
    ),
    "mocap/subject35_walk_raw/35_02.amc": (
        "d6fefd28756a979418b7bc09b6dc1020f3dc372f4c35e382d55026c74941e473",
        313223,
    ),
    "mocap/subject35_walk_raw/35_03.amc": (
        "5f7fc7ede6fdd70ac312f0449e49cf4c8d0878ad31246b9e455a0420450d1761",
        329662,
    ),
    "mocap/subject35_walk_raw/35_04.amc": (
        "c0ea194c1c7cc1807ff6c94212dd702777f8c96fdbc59656c5df7eded3009f1c",
        334384,
    ),
    "mocap/subject35_walk_raw/35_05.amc": (
        "8421013452f0e904c8a31778a690cc76c4aa50a304ea927e7381d79c5958d435",
        329530,
    ),
    "mocap/subject35_walk_raw/35_06.amc": (
        "b13b76a376129b460eae3d62b79d06a704663eec34123c9a61e0dad2775aa910",
        338704,
    ),
    "mocap/subject35_walk_raw/35_07.amc": (
        "315f9ee6eefa2b54c380b1992034ab825f58f799084ed7680a4e2213e3846823",
        277989,
    ),
    "mocap/subject35_walk_raw/35_08.amc": (
        "29fd9b64748295a5263f3fc69fb9c1c09ad828027569a79c39f0ef080c37d05e",
        351251,
    ),
    "mocap/subject35_walk_raw/35_09.amc": (
        "43d92cd4d4397f996a40037955597334b04b6c09c0ad9288ef12f7ebb3bac5fc",
        297067,
    ),
    "mocap/subject35_walk_raw/35_10.amc": (
        "d2948eb337fc2c395616881ad4d612780242e2923558774893b3db43a3ea8d62",
        333534,
    ),
    "mocap/subject35_walk_raw/35_11.amc": (
        "15541226c2aae03a287f39ad70a21480df0e523f2c040838e76bb12b6e539349",
        297784,
    ),
    "mocap/subject35_walk_raw/35_12.amc": (
        "eb6d224e450d0c4e4ec502edd7b671fa0f5119305b2c0105575cdeb48d53d84e",
        306964,
    ),
    "mocap/subject35_walk_raw/35_13.amc": (
        "fe5572cce38f4bd4046b0f5d72741c351a8cfa7cf88b428feb85c56dc1130587",
        349868,
    ),
    "mocap/subject35_walk_raw/35_14.amc": (
        "f3c584811a8370d8d627f6354706402931f7a599f3620a5abb26305aefd77432",
        317856,
    ),
    "mocap/subject35_walk_raw/35_15.amc": (
        "cb50bf7c31fdfb4a0903ab64d91807aff775a483a028bdb0773af7752354d9fa",
        313429,
    ),
    "mocap/subject35_walk_raw/35_16.amc": (
        "240e8d077d3be8e340bee6c465c59ed7320e53e4e529fd674fe7335e6d2c52af",
        342378,
    ),
    "mocap/subject35_walk_raw/35_28.amc": (
        "e91c989fc8adbb2eff59e3e86f37ef114e82591e5961f22ea1eb0b9682a96ca6",
        322244,
    ),
    "mocap/subject35_walk_raw/35_29.amc": (
        "48eb5a400085c6477698038767fa907d1f67b7ddd4e51c05366dae15cccd6ce5",
        383855,
    ),
    "mocap/subject35_walk_raw/35_30.amc": (
        "6c34a093f1df7e5255352972e12e2648a7e50cc9261fe73183e9e77bd0ab326e",
        318169,
    ),
    "mocap/subject35_walk_raw/35_31.amc": (
        "2b412cbd23c326d36f86ad86d41f500f4b3808f32fedad1b03b4652ea25efb80",
        324355,
    ),
    "mocap/subject35_walk_raw/35_32.amc": (
        "6939e377574486c7ca2939f3f424fcf4cfac5f6ad28eeb71933e52b052bb19bc",
        302716,
    ),
    "mocap/subject35_walk_raw/35_33.amc": (
        "d53fbc9c99944ad9cf36b7d6fafea029c7d7fa3b71fc70492248e7494eabaab1",
        324788,
    ),
    "mocap/subject35_walk_raw/35_34.amc": (
        "484ee3fe1ca9a984c4363484972d3114c675a9207a5119aeebd6d7235038a421",
        319761,
    ),
}


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    Attributes:
        path: path relative to the data root (cache or ``--from`` folder).
        url: public source.
        sha256: pinned checksum, or None where it could not be pinned (format check only).
        size: expected size in bytes, or None.
        alternatives: other names under which a ``--from`` folder may hold the same file.
        kind: ``"raw"`` (text), ``"pickle"`` or ``"npz"``: what the format check does.
    """

    path: str
    url: str
    sha256: str | None
    size: int | None = None
    alternatives: tuple[str, ...] = ()
    kind: str = "raw"


def _pinned(path: str, url: str, kind: str) -> DataFile:
    sha, size = _PINNED[path]
    return DataFile(path, url, sha, size, kind=kind)


def _walk_files() -> list[DataFile]:
    files = [_pinned("mocap/subject35_walk_raw/35.asf", CMU_URL.format(name="35.asf"), "raw")]
    for t in WALK_TRIALS:
        files.append(
            _pinned(f"mocap/subject35_walk_raw/{t}.amc", CMU_URL.format(name=f"{t}.amc"), "raw")
        )
    files.append(_pinned("mocap/split.pkl", GMN_URL + "spatial_graph/motion/split.pkl", "pickle"))
    return files


def _run_files() -> list[DataFile]:
    return [
        _pinned("mocap/motion_run.pkl", EGNO_URL + "motion/dataset/motion_run.pkl", "pickle"),
        _pinned("mocap/split_run.pkl", EGNO_URL + "motion/dataset/split_run.pkl", "pickle"),
    ]


def md17_trajectory_file(molecule: str) -> DataFile:
    names = MD17_MOLECULES[molecule]
    return DataFile(
        path=f"md17/{names[0]}",
        url=GDML_URL.format(name=names[0]),
        sha256=None,  # not verifiable offline where this was written; format check only
        size=None,
        alternatives=tuple(f"md17/{n}" for n in names[1:]),
        kind="npz",
    )


def _md17_files(molecule: str) -> list[DataFile]:
    split = f"md17/splits/{molecule}_split.pkl"
    return [
        _pinned(split, GMN_URL + f"spatial_graph/md17/{molecule}_split.pkl", "pickle"),
        md17_trajectory_file(molecule),
    ]


DATASETS: dict[str, list[DataFile]] = {
    "mocap_walk": _walk_files(),
    "mocap_run": _run_files(),
    **{f"md17_{m}": _md17_files(m) for m in MD17_MOLECULES},
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def dataset_files(name: str) -> list[DataFile]:
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; allowed: {list(DATASETS)}")
    return list(DATASETS[name])
