"""The sweep scripts parse their flags and name what is missing, without starting Ray."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from remul.tune import scripts

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("nbody_beta", "mocap_beta", "md17_beta", "gradnorm_vs_constant", "group_samples")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"sweep_{name}", ROOT / "sweeps" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", NAMES)
def test_scripts_have_the_common_flags(name, capsys):
    mod = _load(name)
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--smoke", "--num-samples", "--gpus-per-trial", "--max-concurrent",
                 "--storage-path", "--tracking-uri", "--resume", "--address"):
        assert flag in out


def test_unknown_task_says_what_is_missing(capsys):
    import ray

    before = ray.is_initialized()
    mod = _load("md17_beta")
    assert mod.main(["--smoke", "--task", "md17_nope"]) == 3
    assert "md17_nope" in capsys.readouterr().err
    assert "not installed" in scripts.missing_task("qm9_x")
    assert scripts.missing_task("nbody") is None
    assert ray.is_initialized() == before


def test_smoke_space_replaces_the_model():
    from ray import tune

    sp = scripts.smoke_space("nbody", {"model": {"name": "transformer", "blocks": 4},
                                       "beta": tune.grid_search([1.0])})
    assert sp["model"] == {"name": "mlp", "hidden": 32, "layers": 2}
    assert sp["data"]["n_train"] == 64 and sp["epochs"] == 2
