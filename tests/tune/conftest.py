"""One real Ray session (2 CPUs, 127.0.0.1, no dashboard) per test module that asks for it."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

_TINY = {
    "model": {"name": "mlp", "hidden": 16, "layers": 2},
    "data": {"n_train": 64, "n_val": 64, "n_test": 64, "n_ood": 64},
    "epochs": 2,
    "batch_size": 32,
    "metrics": {"M": 4, "n_samples": 16},
}


@pytest.fixture(scope="session")
def tiny():
    """A tiny N-body config: trials of well under a second."""
    import copy

    return copy.deepcopy(_TINY)


@pytest.fixture(scope="module")
def ray_session():
    import ray

    from remul.tune.sweep import loopback_only

    loopback_only()
    if ray.is_initialized():  # pragma: no cover - another module left it running
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=True, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """cwd = tmp_path and no MLFLOW_TRACKING_URI/RAY_ADDRESS from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return tmp_path
