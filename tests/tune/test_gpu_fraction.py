"""Fractional logical GPUs (as on a simulated cluster): trials share them and fall back to the
CPU when the node has no CUDA."""

from __future__ import annotations

import pytest
from ray import tune

from remul.tune import tracking


@pytest.fixture(scope="module")
def ray_with_logical_gpu():
    import ray

    from remul.tune.sweep import loopback_only

    loopback_only()
    if ray.is_initialized():  # pragma: no cover
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_half_gpu_trials_run_on_cpu_without_cuda(ray_with_logical_gpu, tmp_path, tiny):
    import torch

    from remul.tune import tune_remul

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    res = tune_remul("nbody", {**tiny, "beta": tune.grid_search([0.1, 1.0])}, search="grid",
                     resources_per_trial={"cpu": 1, "gpu": 0.5}, tracking_uri=uri,
                     storage_path=str(tmp_path / "ray"), verbose=0, quiet=True)
    assert len(res.results) == 2 and res.results["final"].all()
    expected = int(torch.cuda.is_available())
    assert (res.results["on_gpu"] == expected).all()
    client = tracking.client_for(uri)
    parent = client.get_run(res.parent_run_id)
    assert parent.data.params["resources_per_trial.gpu"] == "0.5"
