"""MD17 trajectories with the GMN / EGNO / REMUL protocol.

A trajectory is the standard ``.npz`` (``R`` (frames, atoms, 3) in Angstrom, ``z`` atomic
numbers), named ``md17_{molecule}.npz`` or ``{molecule}_dft.npz``. Protocol: heavy atoms only
(``z > 1``); velocities are frame differences (``V = R[1:] - R[:-1]``, last frame dropped from the
positions); input ``(x[s], v[s])`` and target ``x[s + delta_t]`` with ``delta_t = 5000``; start
frames ``s`` from the split file ``{molecule}_split.pkl``, the first 500 / 2000 / 2000 of its
train / val / test indices. Graph: heavy-atom pairs closer than 1.6 Angstrom in the first frame,
plus 2-hop edges; edge attributes ``[z_i, z_j, hop]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from remul.data.fetch import DataError
from remul.data.registry import MD17_MOLECULES, md17_trajectory_file
from remul.data.safe_pickle import safe_load

MAX_SAMPLES = {"train": 500, "val": 2000, "test": 2000}
CUTOFF = 1.6
HEAVY_TYPES = (6, 7, 8)  # C, N, O: the heavy atoms of the 8 MD17 molecules


def find_trajectory(md17_dir: str | os.PathLike, molecule: str) -> Path:
    """The trajectory file of ``molecule`` in ``md17_dir``, or a DataError saying what to get."""
    if molecule not in MD17_MOLECULES:
        raise ValueError(f"molecule: unknown {molecule!r}; allowed: {list(MD17_MOLECULES)}")
    md17_dir = Path(md17_dir)
    for name in MD17_MOLECULES[molecule]:
        if (md17_dir / name).is_file():
            return md17_dir / name
    entry = md17_trajectory_file(molecule)
    names = " or ".join(str(md17_dir / n) for n in MD17_MOLECULES[molecule])
    raise DataError(
        f"MD17 trajectory for {molecule!r} not found: {names}. Download {entry.url} "
        f"(sgdml.org / quantum-machine.org) into {md17_dir}, or run `remul data md17_{molecule}`"
    )


def load_trajectory(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(R (frames, atoms, 3) float64, z (atoms,) int64) from an MD17 ``.npz``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "R" not in data.files or "z" not in data.files:
                raise DataError(f"{path}: not an MD17 trajectory (needs arrays 'R' and 'z')")
            R = np.asarray(data["R"], dtype=np.float64)
            z = np.asarray(data["z"]).astype(np.int64).reshape(-1)
    except (OSError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({err})") from err
    if R.ndim != 3 or R.shape[2] != 3 or R.shape[1] != z.shape[0]:
        raise DataError(f"{path}: expected R (frames, atoms, 3) and z (atoms,), got "
                        f"{R.shape} and {z.shape}")
    return R, z


def load_md17_split(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    obj = safe_load(path)
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3):
        raise DataError(f"{path}: expected a (train, val, test) tuple of frame indices")
    return tuple(np.asarray(p, dtype=np.int64).reshape(-1) for p in obj)


def molecular_graph(x0: np.ndarray, z: np.ndarray, cutoff: float = CUTOFF):
    """Edges within ``cutoff`` in frame ``x0`` (atoms, 3) plus 2-hop edges.

    Returns edge_index (2, E) int64 and edge_attr (E, 3) float64 ``[z_i, z_j, hop]``.
    """
    n = len(z)
    d = np.linalg.norm(x0[:, None, :] - x0[None, :, :], axis=-1)
    A = ((d < cutoff) & ~np.eye(n, dtype=bool)).astype(np.int64)
    A2 = A @ A
    rows, cols, attr = [], [], []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            hop = 1 if A[i, j] else (2 if A2[i, j] else 0)
            if hop:
                rows.append(i), cols.append(j), attr.append([z[i], z[j], hop])
    ei = np.array([rows, cols], dtype=np.int64).reshape(2, -1)
    return ei, np.array(attr, dtype=np.float64).reshape(-1, 3)


def md17_protocol(
    R: np.ndarray,
    z: np.ndarray,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    delta_t: int = 5000,
    max_samples: dict | None = None,
    source: str = "trajectory",
) -> dict:
    """Splits {"train"/"val"/"test": (x, v, y)} plus "z", "edge_index", "edge_attr"."""
    heavy = z > 1
    zh = z[heavy]
    n_frames = R.shape[0] - 1  # positions R[:-1], velocities R[1:] - R[:-1]
    sizes = {**MAX_SAMPLES, **(max_samples or {})}
    out: dict = {"z": zh}
    for k, idx in zip(("train", "val", "test"), split, strict=True):
        st = idx[: sizes[k]]
        if st.size and (st.min() < 0 or st.max() + delta_t >= n_frames):
            raise DataError(
                f"{source}: split {k!r} needs frame {int(st.max()) + delta_t} (start "
                f"{int(st.max())} + delta_t {delta_t}) but the trajectory has {n_frames + 1} "
                "frames (wrong or truncated file?)"
            )
        x = R[st][:, heavy]
        v = R[st + 1][:, heavy] - x
        y = R[st + delta_t][:, heavy]
        out[k] = (x, v, y)
    out["edge_index"], out["edge_attr"] = molecular_graph(R[0, heavy], zh)
    return out


def load_md17(
    molecule: str,
    root: str | os.PathLike,
    delta_t: int = 5000,
    max_samples: dict | None = None,
) -> dict:
    """The standard MD17 splits of ``molecule`` from a data root with the manifest layout."""
    root = Path(root)
    traj = find_trajectory(root / "md17", molecule)
    split = load_md17_split(root / "md17" / "splits" / f"{molecule}_split.pkl")
    R, z = load_trajectory(traj)
    return md17_protocol(R, z, split, delta_t, max_samples, source=str(traj))
