"""The mocap and MD17 tasks: registration, defaults, data through the cache, training."""

import numpy as np
import pytest
import torch
from helpers_data import require_shared_data, toy_molecule_trajectory, write_md17

from remul.config import resolve_config
from remul.tasks import get_task, task_names

MOLECULES = ["aspirin", "benzene_old", "ethanol", "malonaldehyde", "naphthalene", "salicylic",
             "toluene", "uracil"]
SMALL_METRICS = {"M": 4, "n_samples": 16}


def test_tasks_are_registered_with_the_papers_defaults():
    names = task_names()
    assert {"mocap_walk", "mocap_run"} <= set(names)
    assert {f"md17_{m}" for m in MOLECULES} <= set(names)
    cfg = resolve_config(get_task("mocap_walk"), {})
    assert cfg["model"]["name"] == "transformer" and cfg["batch_size"] == 12
    assert cfg["lr"] == 3e-4 and cfg["data"]["delta_t"] == 30
    assert cfg["train_group"] == {"name": "so3"}
    cfg = resolve_config(get_task("md17_aspirin"), {})
    assert cfg["model"] == {"name": "gnn", "layers": 4, "hidden": 64}
    assert cfg["batch_size"] == 200 and cfg["lr"] == 5e-4 and cfg["data"]["delta_t"] == 5000
    so2 = {"name": "so2", "axis": [0, 1, 0]}
    cfg = resolve_config(get_task("mocap_run"), {"train_group": so2, "eval_group": so2})
    assert cfg["train_group"]["axis"] == [0, 1, 0]
    with pytest.raises(ValueError, match="data"):
        resolve_config(get_task("mocap_run"), {"data": {"n_train": 3}})


@pytest.mark.parametrize("name, sizes", [("mocap_walk", (198, 600, 600)),
                                         ("mocap_run", (200, 240, 240))])
def test_mocap_task_loads_the_standard_splits(name, sizes):
    shared = require_shared_data()
    task = get_task(name)
    splits = task.load({**task.data_defaults, "source_dir": str(shared)}, 0)
    assert tuple(splits[s]["x"].shape[0] for s in ("train", "val", "test")) == sizes
    b = splits["train"]
    assert set(b) == {"x", "v", "h", "y"} and b["x"].dtype == torch.float32
    assert b["x"].shape[1:] == (31, 3) and b["h"].shape[1:] == (31, 2)
    torch.testing.assert_close(b["h"][..., 1], b["v"].norm(dim=-1))  # invariant features
    spec = task.spec(splits)
    assert spec.n_nodes == 31 and spec.edge_index.shape == (2, 130)
    assert spec.edge_attr.shape == (130, 1)
    assert task.baselines(splits)["zero_motion_mse"] > 0


def test_small_training_on_mocap_run_beats_zero_motion():
    from remul.train import train

    shared = require_shared_data()
    cfg = {
        "model": {"name": "mlp", "hidden": 64, "layers": 2},
        "data": {"source_dir": str(shared)},
        "epochs": 10, "batch_size": 20, "lr": 1e-3, "metrics": SMALL_METRICS,
    }
    task = get_task("mocap_run")
    splits = task.load({**task.data_defaults, "source_dir": str(shared)}, 0)
    zero_val = float(((splits["val"]["x"] - splits["val"]["y"]) ** 2).mean())
    res = train(task, cfg, splits=splits)
    assert res["val_mse"] < 0.5 * zero_val
    assert np.isfinite(res["equi_error_prime"])


@pytest.mark.parametrize("model", ["gnn", "egnn"])
def test_graph_models_train_on_mocap_walk(model):
    from remul.train import train

    shared = require_shared_data()
    res = train("mocap_walk", {
        "model": {"name": model, "layers": 2, "hidden": 16},
        "data": {"source_dir": str(shared), "max_train": 44, "max_val": 60, "max_test": 60},
        "epochs": 1, "batch_size": 22, "metrics": SMALL_METRICS,
    })
    assert np.isfinite(res["val_mse"])
    if model == "egnn":
        assert res["equi_error_prime"] < 1e-3  # float32 round-off only


def test_md17_task_on_a_generated_trajectory(tmp_path, monkeypatch):
    from remul.train import train

    shared = require_shared_data()
    monkeypatch.setenv("REMUL_DATA_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    (src / "md17" / "splits").mkdir(parents=True)
    (src / "md17" / "splits" / "uracil_split.pkl").write_bytes(
        (shared / "md17" / "splits" / "uracil_split.pkl").read_bytes())
    R, z = toy_molecule_trajectory(123_000, dtype=np.float32)
    write_md17(src, "uracil", R, z)
    data = {"source_dir": str(src), "max_train": 20, "max_val": 20, "max_test": 20}
    task = get_task("md17_uracil")
    splits = task.load({**task.data_defaults, **data}, 0)
    assert splits["train"]["x"].shape == (20, 3, 3)  # heavy atoms only
    torch.testing.assert_close(splits["train"]["h"][0], torch.eye(3)[[0, 0, 2]])  # C, C, O
    spec = task.spec(splits)
    assert spec.edge_index.shape[1] == 6 and spec.edge_attr.shape == (6, 3)
    # splits shipped to another process (pickled) still carry the graph
    import pickle

    import remul.tasks.md17 as md17_task

    monkeypatch.setattr(md17_task, "_GRAPHS", {})
    shipped = pickle.loads(pickle.dumps(splits))
    assert torch.equal(get_task("md17_uracil").spec(shipped).edge_index, spec.edge_index)
    res = train(task, {"model": {"name": "gnn", "layers": 2, "hidden": 16}, "data": data,
                       "epochs": 1, "metrics": SMALL_METRICS}, splits=splits)
    assert np.isfinite(res["val_mse"]) and res["zero_motion_mse"] > 0


def test_md17_task_without_trajectory_names_the_file(tmp_path, monkeypatch):
    import remul.data.fetch as fetch

    monkeypatch.setenv("REMUL_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REMUL_SOURCE_DIR", raising=False)
    monkeypatch.setattr(fetch, "repo_source_dir", lambda: None)
    with pytest.raises(fetch.DataError, match=r"md17_salicylic\.npz.*remul data md17_salicylic"):
        get_task("md17_salicylic").load({}, 0)
