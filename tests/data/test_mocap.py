from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_data import require_shared_data

import remul.data.mocap as mocap
from remul.data.mocap import (
    euler_matrix,
    load_walk,
    mocap_protocol,
    parse_asf,
    read_asf_amc,
    skeleton_graph,
)
from remul.groups import axis_angle_to_matrix


@pytest.fixture(scope="module")
def walk():
    root = require_shared_data()
    folder = root / "mocap" / "subject35_walk_raw"
    return folder, parse_asf(folder / "35.asf"), read_asf_amc(folder)


def _amc_root_translation(path: Path) -> np.ndarray:
    """Independent reading of the AMC 'root' lines: the first three numbers (TX TY TZ)."""
    rows = [line.split()[1:4] for line in path.read_text().splitlines()
            if line.startswith("root ")]
    return np.array(rows, dtype=np.float64)


def test_euler_matrix_applies_angles_in_declared_order():
    a = np.array([0.3, -0.7, 1.1])
    ax = {c: torch.tensor(v, dtype=torch.float64) for c, v in
          zip("xyz", ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]), strict=True)}
    R = {c: axis_angle_to_matrix(ax[c], torch.tensor(a[i], dtype=torch.float64)).numpy()
         for i, c in enumerate("xyz")}
    np.testing.assert_allclose(euler_matrix(a, "XYZ"), R["z"] @ R["y"] @ R["x"], atol=1e-14)
    np.testing.assert_allclose(euler_matrix(a[[2, 0]], "zx"), R["x"] @ R["z"], atol=1e-14)


def test_fk_gives_31_joints_rigid_bones_and_the_amc_root(walk):
    folder, skel, X = walk
    amcs = sorted(folder.glob("*.amc"))
    assert len(X) == len(amcs) == 23
    lengths = {n: skel.bones[n].length * np.linalg.norm(skel.bones[n].direction)
               for n in skel.order}
    for amc, x in zip(amcs, X, strict=True):
        assert x.dtype == np.float64 and x.ndim == 3 and x.shape[1:] == (31, 3)
        drop = 6 if amc.stem == "35_10" else 0
        root = _amc_root_translation(amc)
        assert len(x) == len(root) - drop
        np.testing.assert_allclose(x[:, 0], root[drop:], rtol=0, atol=1e-12)
        for child, parent in skel.edges:
            d = np.linalg.norm(x[:, child] - x[:, parent], axis=-1)
            assert np.ptp(d) < 1e-9
            assert abs(d[0] - lengths[skel.order[child]]) < 1e-9
    # the figure stands upright (+y) and moves: the head is above the feet, the root travels
    head, ltoes = skel.order.index("head"), skel.order.index("ltoes")
    assert (X[0][:, head, 1] > X[0][:, ltoes, 1] + 20).all()
    assert np.linalg.norm(X[0][-1, 0] - X[0][0, 0]) > 20


def test_skeleton_matches_the_gmn_egno_run_pickle(walk):
    root = require_shared_data()
    _, skel, _ = walk
    edges, X = mocap.load_run(root / "mocap" / "motion_run.pkl")
    assert edges == skel.edges and len(edges) == 30
    assert len(X) == 11 and all(x.shape[1:] == (31, 3) for x in X)


def test_skeleton_graph_bones_and_two_hop():
    ei, hop = skeleton_graph([[1, 0], [2, 1], [3, 1]], 4)
    pairs = {(int(a), int(b)): int(h) for a, b, h in zip(ei[0], ei[1], hop[:, 0], strict=True)}
    assert pairs[(0, 1)] == pairs[(1, 0)] == 1 and pairs[(0, 2)] == pairs[(2, 3)] == 2
    assert (0, 0) not in pairs and len(pairs) == 6 + 6


@pytest.mark.parametrize("case, sizes", [("walk", (198, 600, 600)), ("run", (200, 240, 240))])
def test_standard_split_sizes_and_delta_t_pairing(tmp_path, case, sizes):
    root = require_shared_data()
    d = mocap_protocol(case, root, processed_dir=tmp_path)
    assert tuple(len(d[s][0]) for s in ("train", "val", "test")) == sizes
    if case == "walk":
        _, X = load_walk(root / "mocap" / "subject35_walk_raw", tmp_path)
        split = mocap.load_split(root / "mocap" / "split.pkl")
    else:
        _, X = mocap.load_run(root / "mocap" / "motion_run.pkl")
        split = mocap.load_split(root / "mocap" / "split_run.pkl")
    case0, starts = next(iter(split[0].items()))
    s = int(starts[0])
    x, v, y = (a[0] for a in d["train"])
    np.testing.assert_array_equal(x, X[case0][s])
    np.testing.assert_array_equal(v, X[case0][s + 1] - X[case0][s])
    np.testing.assert_array_equal(y, X[case0][s + 30])
    ei, hop = skeleton_graph(d["edges"], 31)
    assert ei.shape[1] == 2 * 30 + int((hop == 2).sum()) and set(hop[:, 0]) == {1.0, 2.0}


def test_processed_fk_is_cached_by_source_checksum(tmp_path, monkeypatch):
    root = require_shared_data()
    folder = root / "mocap" / "subject35_walk_raw"
    edges, X = load_walk(folder, tmp_path)
    files = list(tmp_path.glob("mocap_walk-*.npz"))
    assert len(files) == 1

    def boom(_folder):
        raise AssertionError("FK recomputed")

    monkeypatch.setattr(mocap, "read_asf_amc", boom)
    edges2, X2 = load_walk(folder, tmp_path)
    assert edges2 == edges and all(np.array_equal(a, b) for a, b in zip(X, X2, strict=True))


def test_split_beyond_the_trial_is_a_clear_error():
    X = [np.zeros((40, 31, 3))]
    with pytest.raises(ValueError, match="beyond"):
        mocap.make_samples(X, {0: np.array([5, 20])}, 2, delta_t=30)
