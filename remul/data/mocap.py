"""CMU motion capture: ASF/AMC forward kinematics (walk, subject 35), the GMN/EGNO run pickle
(subject 9), and the standard protocol of GMN / EGHN / EGNO / REMUL.

Forward kinematics follows the usual ASF/AMC convention (as in the parser GMN and EGNO used): a
bone's global rotation is ``R = R_parent . C . E . C^-1`` with ``C`` the bone's ASF ``axis``
frame and ``E`` the AMC Euler angles, applied in the order the ASF declares them (``dof rx ry rz``
-> ``E = Rz Ry Rx``); its end point is ``p = p_parent + length * R . direction``. The root sits at
the AMC root translation. Positions are in ASF length units (the ``:units length`` scale is not
applied, as in GMN/EGNO). Joints are numbered in depth-first order of the ASF hierarchy, root 0.

Protocol: velocities ``V = X[1:] - X[:-1]`` (the last frame is dropped from X), input
``(X[s], V[s])``, target ``X[s + delta_t]`` with ``delta_t = 30``; start frames ``s`` from the
split files, ``max_samples // n_cases`` per case (200 train, 600 val/test): walk 198/600/600,
run 200/240/240. Graph: the bones plus 2-hop edges (edge attribute: hop count 1 or 2).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from remul.data.safe_pickle import safe_load

FK_VERSION = "fk-v1"
# Trials whose first frames GMN/EGNO drop (their preprocessing: trial number 10 drops 6 frames).
DROP_FIRST_FRAMES = {"35_10": 6}
WALK_CASES = {
    "train": [20, 1, 17, 13, 14, 9, 4, 2, 7, 5, 16],
    "val": [3, 8, 11, 12, 15, 18],
    "test": [6, 19, 21, 0, 22, 10],
}
RUN_CASES = {"train": [1, 2, 5, 6, 10], "val": [0, 4, 9], "test": [3, 7, 8]}
MAX_SAMPLES = {"train": 200, "val": 600, "test": 600}
VERTICAL_AXIS = (0.0, 1.0, 0.0)  # CMU mocap: y is up


# ----------------------------------------------------------------------------------- ASF / AMC
@dataclass
class Bone:
    name: str
    direction: np.ndarray = field(default_factory=lambda: np.zeros(3))
    length: float = 0.0
    axis: np.ndarray = field(default_factory=lambda: np.zeros(3))  # degrees
    axis_order: str = "XYZ"
    dof: list[str] = field(default_factory=list)  # e.g. ["rx", "ry", "rz"]; root: "tx", ...
    parent: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class Skeleton:
    bones: dict[str, Bone]
    order: list[str]  # joint names, depth-first from root
    angle_unit: str = "deg"
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def edges(self) -> list[list[int]]:
        """[child, parent] index pairs (as in GMN/EGNO's pickles)."""
        idx = {n: i for i, n in enumerate(self.order)}
        return [[idx[n], idx[self.bones[n].parent]] for n in self.order if self.bones[n].parent]


def _axis_matrix(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation(s) about a coordinate axis; angle (...) radians -> (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    if axis == "x":
        rows = [o, z, z, z, c, -s, z, s, c]
    elif axis == "y":
        rows = [c, z, s, z, o, z, -s, z, c]
    elif axis == "z":
        rows = [c, -s, z, s, c, z, z, z, o]
    else:
        raise ValueError(f"unknown rotation axis {axis!r}")
    return np.stack(rows, axis=-1).reshape(*np.shape(angle), 3, 3)


def euler_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Rotations applied in ``order`` (first letter first): order "xyz" -> Rz @ Ry @ Rx.

    angles: (..., len(order)) radians, one column per letter.
    """
    angles = np.asarray(angles, dtype=np.float64)
    out = np.broadcast_to(np.eye(3), (*angles.shape[:-1], 3, 3)).copy()
    for k, ax in enumerate(order.lower()):
        out = _axis_matrix(ax, angles[..., k]) @ out
    return out


def parse_asf(path: str | os.PathLike) -> Skeleton:
    """Parse an Acclaim skeleton file (root, bonedata, hierarchy, units)."""
    text = Path(path).read_text()
    bones: dict[str, Bone] = {"root": Bone("root")}
    angle_unit = "deg"
    root_pos = np.zeros(3)
    section = None
    cur: Bone | None = None
    hierarchy: list[list[str]] = []
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if tok[0].startswith(":"):
            section = tok[0][1:]
            continue
        if section == "units" and tok[0] == "angle":
            angle_unit = tok[1]
        elif section == "root":
            if tok[0] == "order":
                bones["root"].dof = [t.lower() for t in tok[1:]]
            elif tok[0] == "axis":
                bones["root"].axis_order = tok[1].upper()
            elif tok[0] == "position":
                root_pos = np.array([float(t) for t in tok[1:4]])
            elif tok[0] == "orientation":
                bones["root"].axis = np.array([float(t) for t in tok[1:4]])
        elif section == "bonedata":
            if tok[0] == "begin":
                cur = Bone("")
            elif tok[0] == "end":
                if cur is None or not cur.name:
                    raise ValueError(f"{path}: bone without a name")
                bones[cur.name] = cur
                cur = None
            elif cur is not None:
                if tok[0] == "name":
                    cur.name = tok[1]
                elif tok[0] == "direction":
                    cur.direction = np.array([float(t) for t in tok[1:4]])
                elif tok[0] == "length":
                    cur.length = float(tok[1])
                elif tok[0] == "axis":
                    cur.axis = np.array([float(t) for t in tok[1:4]])
                    cur.axis_order = tok[4].upper() if len(tok) > 4 else "XYZ"
                elif tok[0] == "dof":
                    cur.dof = [t.lower() for t in tok[1:]]
        elif section == "hierarchy":
            if tok[0] in ("begin", "end"):
                continue
            hierarchy.append(tok)
    for tok in hierarchy:
        parent = tok[0]
        for child in tok[1:]:
            if parent not in bones or child not in bones:
                raise ValueError(f"{path}: hierarchy names unknown bone {parent!r}/{child!r}")
            bones[parent].children.append(child)
            bones[child].parent = parent
    order: list[str] = []

    def visit(n: str) -> None:
        order.append(n)
        for c in bones[n].children:
            visit(c)

    visit("root")
    if len(order) != len(bones):
        raise ValueError(f"{path}: {len(bones) - len(order)} bone(s) not reachable from root")
    return Skeleton(bones, order, angle_unit, root_pos)


def parse_amc(path: str | os.PathLike, skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Motion channels per joint: name -> (T, n_dof) float64, in the ASF ``dof`` order."""
    frames: list[dict[str, list[float]]] = []
    with open(path) as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#") or line.startswith(":"):
                continue
            tok = line.split()
            if len(tok) == 1 and tok[0].isdigit():
                frames.append({})
                continue
            if not frames:
                raise ValueError(f"{path}: channel line before the first frame number")
            frames[-1][tok[0]] = [float(t) for t in tok[1:]]
    if not frames:
        raise ValueError(f"{path}: no frames")
    out = {}
    for name in skeleton.order:
        n = len(skeleton.bones[name].dof)
        if n == 0:
            continue
        try:
            vals = np.array([f[name] for f in frames], dtype=np.float64)
        except KeyError as err:
            raise ValueError(f"{path}: a frame lacks joint {name!r}") from err
        if vals.shape != (len(frames), n):
            raise ValueError(f"{path}: joint {name!r} has {vals.shape[1]} values, expected {n}")
        out[name] = vals
    return out


def forward_kinematics(skeleton: Skeleton, motion: dict[str, np.ndarray]) -> np.ndarray:
    """Joint positions (T, J, 3) float64 from AMC channels (see the module docstring)."""
    T = next(iter(motion.values())).shape[0]
    to_rad = np.pi / 180.0 if skeleton.angle_unit.startswith("deg") else 1.0
    J = len(skeleton.order)
    pos = np.zeros((T, J, 3))
    rot: dict[str, np.ndarray] = {}
    for j, name in enumerate(skeleton.order):
        b = skeleton.bones[name]
        ch = motion.get(name)
        rdofs = [(k, d[1]) for k, d in enumerate(b.dof) if d.startswith("r")]
        C = euler_matrix(b.axis * to_rad, b.axis_order)
        if rdofs:
            E = euler_matrix(ch[:, [k for k, _ in rdofs]] * to_rad, "".join(a for _, a in rdofs))
        else:
            E = np.broadcast_to(np.eye(3), (T, 3, 3))
        local = C @ E @ C.T  # C is a rotation: C^-1 = C^T
        if b.parent is None:
            trans = np.zeros((T, 3))
            for k, d in enumerate(b.dof):
                if d.startswith("t"):
                    trans[:, "xyz".index(d[1])] = ch[:, k]
            rot[name] = local
            pos[:, j] = trans + skeleton.root_position
        else:
            pj = skeleton.order.index(b.parent)
            rot[name] = rot[b.parent] @ local
            pos[:, j] = pos[:, pj] + b.length * (rot[name] @ b.direction)
    return pos


def walk_trial_files(folder: str | os.PathLike) -> tuple[Path, list[Path]]:
    folder = Path(folder)
    asfs = sorted(folder.glob("*.asf"))
    if len(asfs) != 1:
        raise ValueError(f"{folder}: expected exactly one .asf skeleton, found {len(asfs)}")
    amcs = sorted(folder.glob("*.amc"))
    if not amcs:
        raise ValueError(f"{folder}: no .amc motion files")
    return asfs[0], amcs


def read_asf_amc(folder: str | os.PathLike) -> list[np.ndarray]:
    """Joint positions of every trial in ``folder``: one (T_i, J, 3) float64 array per .amc file,
    in sorted file order; trial 35_10 drops its first 6 frames (GMN/EGNO preprocessing)."""
    asf, amcs = walk_trial_files(folder)
    skel = parse_asf(asf)
    out = []
    for amc in amcs:
        X = forward_kinematics(skel, parse_amc(amc, skel))
        out.append(X[DROP_FIRST_FRAMES.get(amc.stem, 0) :])
    return out


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_walk(folder: str | os.PathLike, processed_dir: str | os.PathLike | None = None):
    """(edges, X) for the walk trials in ``folder``; the FK output is cached as
    ``processed_dir/mocap_walk-<key>.npz``, keyed by the sha256 of the source files."""
    from remul.data.fetch import sha256_file

    asf, amcs = walk_trial_files(folder)
    cache_file = None
    if processed_dir is not None:
        h = hashlib.sha256(FK_VERSION.encode())
        for f in [asf, *amcs]:
            h.update(f.name.encode() + sha256_file(f).encode())
        cache_file = Path(processed_dir) / f"mocap_walk-{h.hexdigest()[:20]}.npz"
        if cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as z:
                n = int(z["n_trials"])
                return z["edges"].tolist(), [z[f"trial_{i:03d}"] for i in range(n)]
    edges = parse_asf(asf).edges
    X = read_asf_amc(folder)
    if cache_file is not None:
        arrays = {f"trial_{i:03d}": x for i, x in enumerate(X)}
        _atomic_savez(cache_file, edges=np.array(edges), n_trials=np.array(len(X)), **arrays)
    return edges, X


def load_run(path: str | os.PathLike):
    """(edges, X) from the GMN/EGNO ``motion_run.pkl`` (restricted unpickler)."""
    obj = safe_load(path)
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
        raise ValueError(f"{path}: expected a tuple (edges, X)")
    edges, X = obj
    X = [np.asarray(x, dtype=np.float64) for x in X]
    if not X or any(x.ndim != 3 or x.shape[1:] != X[0].shape[1:] or x.shape[2] != 3 for x in X):
        raise ValueError(f"{path}: X must be a list of (T_i, J, 3) arrays")
    edges = [[int(a), int(b)] for a, b in edges]
    return edges, X


def load_split(path: str | os.PathLike) -> tuple[dict, dict, dict]:
    """The GMN/EGNO split: (train, val, test), each {case id: start frames}."""
    obj = safe_load(path)
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3):
        raise ValueError(f"{path}: expected a (train, val, test) tuple")
    out = []
    for part in obj:
        if not isinstance(part, dict):
            raise ValueError(f"{path}: expected dicts case id -> start frames")
        out.append({int(k): np.asarray(v, dtype=np.int64) for k, v in part.items()})
    return tuple(out)


def skeleton_graph(edges: list[list[int]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bones plus 2-hop edges, both directions: edge_index (2, E) and hop count (E, 1)."""
    A = np.zeros((n, n), dtype=np.int64)
    for a, b in edges:
        A[a, b] = A[b, a] = 1
    A2 = A @ A
    rows, cols, hop = [], [], []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if A[i, j]:
                rows.append(i), cols.append(j), hop.append(1)
            elif A2[i, j]:
                rows.append(i), cols.append(j), hop.append(2)
    return np.array([rows, cols], dtype=np.int64), np.array(hop, dtype=np.float64)[:, None]


def make_samples(
    X: list[np.ndarray],
    mapping: dict[int, np.ndarray],
    max_samples: int,
    delta_t: int = 30,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x0, v0, x_t) for the start frames of ``mapping`` (``max_samples // n_cases`` per case)."""
    each = max_samples // len(mapping)
    xs, vs, ys = [], [], []
    for case, starts in mapping.items():
        if not 0 <= case < len(X):
            raise ValueError(f"split names case {case}, but there are {len(X)} trials")
        traj = X[case]
        V = traj[1:] - traj[:-1]
        P = traj[:-1]
        st = np.asarray(starts[:each], dtype=np.int64)
        if st.size and (st.min() < 0 or st.max() + delta_t >= len(P)):
            raise ValueError(
                f"case {case}: start frame {int(st.max())} + delta_t {delta_t} is beyond the "
                f"trial's {len(P)} frames"
            )
        xs.append(P[st]), vs.append(V[st]), ys.append(P[st + delta_t])
    return np.concatenate(xs), np.concatenate(vs), np.concatenate(ys)


def mocap_protocol(
    case: str,
    root: str | os.PathLike,
    delta_t: int = 30,
    max_samples: dict | None = None,
    processed_dir: str | os.PathLike | None = None,
) -> dict:
    """The standard splits of ``case`` ("walk" | "run") from a data root with the manifest
    layout. Returns {"train"/"val"/"test": (x, v, y) float64, "edges", "n_joints"}."""
    root = Path(root)
    if case == "walk":
        edges, X = load_walk(root / "mocap" / "subject35_walk_raw", processed_dir)
        split = load_split(root / "mocap" / "split.pkl")
    elif case == "run":
        edges, X = load_run(root / "mocap" / "motion_run.pkl")
        split = load_split(root / "mocap" / "split_run.pkl")
    else:
        raise ValueError(f"case: unknown value {case!r}; allowed: ['walk', 'run']")
    sizes = {**MAX_SAMPLES, **(max_samples or {})}
    out: dict = {"edges": edges, "n_joints": X[0].shape[1]}
    for k, part in zip(("train", "val", "test"), split, strict=True):
        out[k] = make_samples(X, part, sizes[k], delta_t)
    return out
