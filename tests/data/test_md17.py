import numpy as np
import pytest
from helpers_data import toy_molecule_trajectory, write_md17

from remul.data.fetch import DataError
from remul.data.md17 import find_trajectory, load_md17, molecular_graph


def test_toy_trajectory_is_physically_sensible():
    R, z = toy_molecule_trajectory(500)
    bonds = [(0, 2), (2, 4), (0, 1), (2, 3), (4, 5)]
    for i, j in bonds:
        d = np.linalg.norm(R[:, i] - R[:, j], axis=-1)
        assert 0.85 < d.min() and d.max() < 1.6
    assert np.abs(np.diff(R, axis=0)).max() < 0.02  # smooth motion


def test_loader_heavy_atoms_shapes_and_delta_t(tmp_path):
    R, z = toy_molecule_trajectory(400)
    split = (np.array([10, 50, 90, 7]), np.arange(100, 130), np.arange(200, 260))
    write_md17(tmp_path, "ethanol", R, z, split)
    d = load_md17("ethanol", tmp_path, delta_t=100, max_samples={"train": 3, "val": 20,
                                                                 "test": 50})
    heavy = z > 1
    assert list(d["z"]) == [6, 6, 8]
    x, v, y = d["train"]
    assert x.shape == v.shape == y.shape == (3, 3, 3)
    assert d["val"][0].shape == (20, 3, 3) and d["test"][0].shape == (50, 3, 3)
    for k, s in enumerate([10, 50, 90]):
        np.testing.assert_array_equal(x[k], R[s][heavy])
        np.testing.assert_array_equal(v[k], R[s + 1][heavy] - R[s][heavy])
        np.testing.assert_array_equal(y[k], R[s + 100][heavy])


def test_graph_cutoff_two_hop_and_edge_attributes():
    R, z = toy_molecule_trajectory(2)
    heavy = z > 1
    ei, ea = molecular_graph(R[0][heavy], z[heavy])
    pairs = {(int(a), int(b)): tuple(e) for a, b, e in zip(ei[0], ei[1], ea, strict=True)}
    assert pairs[(0, 1)] == (6, 6, 1) and pairs[(1, 2)] == (6, 8, 1)
    assert pairs[(0, 2)] == (6, 8, 2) and pairs[(2, 0)] == (8, 6, 2)
    assert len(pairs) == 6


def test_alternative_file_name_and_missing_file_message(tmp_path):
    R, z = toy_molecule_trajectory(20)
    write_md17(tmp_path, "toluene", R, z, name="toluene_dft.npz")
    assert find_trajectory(tmp_path / "md17", "toluene").name == "toluene_dft.npz"
    with pytest.raises(DataError, match=r"md17_aspirin\.npz.*md17_aspirin\.npz"):
        find_trajectory(tmp_path / "md17", "aspirin")
    with pytest.raises(ValueError, match="allowed"):
        find_trajectory(tmp_path / "md17", "caffeine")


def test_split_past_the_end_of_a_short_file_is_refused(tmp_path):
    R, z = toy_molecule_trajectory(120)
    write_md17(tmp_path, "uracil", R, z, (np.array([10]), np.array([20]), np.array([30])))
    with pytest.raises(DataError, match=r"md17_uracil\.npz: split 'train' needs frame 5010"):
        load_md17("uracil", tmp_path)


def test_bad_npz_is_refused(tmp_path):
    d = tmp_path / "md17"
    d.mkdir()
    np.savez(d / "md17_ethanol.npz", R=np.zeros((5, 4, 3)))  # no z
    write_md17(tmp_path, "ethanol", *toy_molecule_trajectory(3), split=([0], [0], [0]),
               name="ignored.npz")
    with pytest.raises(DataError, match="needs arrays 'R' and 'z'"):
        load_md17("ethanol", tmp_path, delta_t=1)
