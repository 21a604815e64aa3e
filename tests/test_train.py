import json
import math

import pytest
from helpers import tiny_config

from remul.cli import main as cli_main
from remul.train import train

SMALL_TRANSFORMER = {"name": "transformer", "hidden": 64, "blocks": 2, "heads": 4}


def test_small_transformer_beats_zero_motion():
    res = train("nbody", {
        "model": SMALL_TRANSFORMER,
        "data": {"n_train": 500, "n_val": 200, "n_test": 500, "n_ood": 100},
        "batch_size": 64, "max_steps": 300, "lr": 1e-3, "mode": "constant", "beta": 1.0,
        "metrics": {"M": 8, "n_samples": 32},
    })
    assert res["steps"] == 300
    assert res["test_mse"] < 0.5 * res["zero_motion_mse"]
    for key in ("val_mse", "test_mse", "ood_mse", "equi_error", "equi_error_prime",
                "val_equi_error", "train_seconds", "n_params"):
        assert math.isfinite(res[key])
    assert res["equi_error"] <= res["equi_error_prime"]


def test_large_beta_gives_lower_E_than_beta_zero():
    common = {
        "model": SMALL_TRANSFORMER,
        "data": {"n_train": 200, "n_val": 100, "n_test": 100, "n_ood": 16},
        "batch_size": 50, "max_steps": 200, "lr": 1e-3, "seed": 3,
        "metrics": {"M": 16, "n_samples": 64},
        "train_group": {"name": "so3"},
    }
    plain = train("nbody", {**common, "mode": "constant", "alpha": 1.0, "beta": 0.0})
    remul = train("nbody", {**common, "mode": "constant", "alpha": 1.0, "beta": 10.0})
    assert remul["equi_error"] < 0.7 * plain["equi_error"]
    assert remul["equi_error_prime"] < plain["equi_error_prime"]


def test_callback_gets_every_epoch_and_the_final_result():
    seen = []
    res = train("nbody", tiny_config(mode="gradnorm", epochs=3),
                callback=lambda m, ck: seen.append((m, ck)))
    epochs = [m for m, _ in seen if not m.get("final")]
    assert [m["epoch"] for m in epochs] == [0, 1, 2]
    for m in epochs:
        for k in ("train_loss", "train_task_loss", "train_equi_loss", "alpha", "beta", "val_mse"):
            assert k in m
    assert seen[-1][0]["final"] and seen[-1][0]["test_mse"] == res["test_mse"]
    assert all(ck is None for _, ck in seen)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("mode", ["gradnorm", "constant"])
def test_resume_continues_exactly_where_it_stopped(tmp_path, mode):
    cfg = tiny_config(mode=mode, epochs=4, n_group_samples=2)
    full = train("nbody", {**cfg, "checkpoint_dir": str(tmp_path / "a")})

    def kill_after_epoch_1(metrics, ck):
        if metrics.get("epoch") == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train("nbody", {**cfg, "checkpoint_dir": str(tmp_path / "b")}, kill_after_epoch_1)
    resumed = train("nbody", {**cfg, "checkpoint_dir": str(tmp_path / "b"),
                              "resume_from": str(tmp_path / "b")})
    for key in ("val_mse", "test_mse", "alpha", "beta", "steps", "equi_error"):
        assert resumed[key] == pytest.approx(full[key], rel=1e-6), key


@pytest.mark.parametrize("override,field", [
    ({"mode": "equi"}, "mode"),
    ({"model": {"name": "resnet"}}, "model.name"),
    ({"model": {"name": "mlp", "width": 3}}, "width"),
    ({"alpha": -1.0}, "alpha"),
    ({"beta": float("nan")}, "beta"),
    ({"eta": float("inf")}, "eta"),
    ({"n_group_samples": 0}, "n_group_samples"),
    ({"metrics": {"M": 0}}, "metrics.M"),
    ({"lernrate": 0.1}, "lernrate"),
    ({"data": {"n_trian": 3}}, "n_trian"),
    ({"equi_loss": "huber"}, "equi_loss"),
])
def test_bad_configs_are_rejected_before_compute(tmp_path, monkeypatch, override, field):
    monkeypatch.setenv("REMUL_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=field) as err:
        train("nbody", {**tiny_config(), **override})
    assert "allowed" in str(err.value) or "must" in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing generated


def test_unknown_task():
    with pytest.raises(ValueError, match="task.*allowed"):
        train("nbodies", {})


def test_cli_train_prints_json(capsys):
    cfg = tiny_config()
    args = ["train", "--task", "nbody", "--model", "mlp", "--mode", "augmentation",
            "--epochs", "2", "--set", "model.hidden=16",
            "--set", "data=" + json.dumps(cfg["data"]), "--set", "metrics.M=4"]
    assert cli_main(args) == 0
    out = capsys.readouterr()
    res = json.loads(out.out)
    assert res["alpha"] == 0.0 and res["beta"] == 1.0
    assert "epoch=1" in out.err
    assert cli_main(["train", "--task", "nbody", "--mode", "x"]) == 2
    assert "mode" in capsys.readouterr().err
