"""The sweep service on a multi-node Ray cluster, simulated on one machine.

A head and two worker nodes on 127.0.0.1 (``remul.cluster.LocalRayCluster``: one raylet and object
store each, one logical GPU each), a real ``mlflow server`` on 127.0.0.1 whose URI reaches the
drivers through the cluster's environment (as ``cluster/gpu.yaml`` sets it on the head), and the
unchanged ``sweeps/nbody_beta.py --smoke`` with 0.5 GPU per trial:

- driven directly (``RAY_ADDRESS``): trials ran on more than one node, no logical GPU held more
  than 2 trials at a time, and every trial is a child run of one parent in that MLflow server;
- submitted through the Ray Jobs API (``ray job submit --address http://127.0.0.1:<port>``, the
  ``ray submit`` path without ssh): the job succeeds and its trials are in the same server.

Only the processes these tests start are stopped (by process group); ``ray stop`` is never used.
Logical GPUs measure scheduling, not GPU speed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from remul.cluster import (
    LocalRayCluster,
    MLflowServer,
    max_concurrency,
    max_gpu_in_use,
    trial_placements,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "sweeps" / "nbody_beta.py"
SMOKE_TRIALS = 4  # sweeps/nbody_beta.py --smoke: constant x 3 betas + augmentation

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        importlib.util.find_spec("aiohttp_cors") is None,
        reason="needs ray[default] (the dashboard: Jobs API and state API)",
    ),
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("multinode")
    data = os.environ.get("REMUL_DATA_DIR") or str(root / "data")
    with MLflowServer(str(root / "mlflow")) as server:
        # What the cluster config exports on the nodes; drivers and jobs inherit it.
        env = {"MLFLOW_TRACKING_URI": server.uri, "REMUL_DATA_DIR": data}
        # 4 logical CPUs per node: by CPU one node could take all 4 trials (1 CPU each), so
        # the GPU (1 per node, 0.5 per trial) is what spreads them and caps each node at 2.
        with LocalRayCluster(num_workers=2, gpus_per_node=1, cpus_per_node=4, env=env) as cluster:
            yield cluster, server, root


def mlflow_trials(server: MLflowServer, experiment: str) -> tuple[list, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server.uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment!r} not in {server.uri}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def check_logged(server: MLflowServer, experiment: str, workdir: Path) -> None:
    parents, children = mlflow_trials(server, experiment)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == SMOKE_TRIALS
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert len({c.data.tags["remul.trial_id"] for c in children}) == SMOKE_TRIALS
    for c in children:
        assert c.info.status == "FINISHED", c.data.tags
        assert "val_mse" in c.data.metrics
    # one store only: nothing fell back to a local SQLite file
    assert not list(workdir.rglob("mlruns.db"))


def test_smoke_sweep_on_three_nodes(sim):
    cluster, server, root = sim
    assert len(cluster.alive_nodes()) == 3
    work = root / "direct"
    work.mkdir()
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--gpus-per-trial", "0.5",
           "--experiment", "multinode-direct", "--storage-path", str(work / "ray_results"),
           "--verbose", "0"]
    out = subprocess.run(cmd, cwd=work, env=cluster.driver_env(), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    placements = trial_placements(cluster.dashboard_url)
    assert placements, "no trial actors seen by the state API"
    assert all(p["gpu"] == 0.5 for p in placements), placements
    nodes = {p["node_id"] for p in placements}
    assert nodes <= set(cluster.node_ids)
    assert len(nodes) >= 2, f"all trials ran on one node: {placements}"
    per_node = max_concurrency(placements)
    assert max(per_node.values()) <= 2, per_node  # one logical GPU per node, 0.5 per trial
    assert max(max_gpu_in_use(placements).values()) <= 1.0

    check_logged(server, "multinode-direct", work)


def test_jobs_api_submission(sim):
    cluster, server, root = sim
    work = root / "job"
    work.mkdir()
    sid = "remul-multinode-smoke"
    entry = [sys.executable, str(SCRIPT), "--smoke", "--gpus-per-trial", "0.5",
             "--experiment", "multinode-job", "--storage-path", str(work / "ray_results"),
             "--verbose", "0"]
    cmd = [str(Path(sys.executable).parent / "ray"), "job", "submit",
           "--address", cluster.dashboard_url, "--submission-id", sid, "--", *entry]
    out = subprocess.run(cmd, cwd=work, env=cluster.base_env(), capture_output=True,
                         text=True, timeout=600)
    with urllib.request.urlopen(f"{cluster.dashboard_url}/api/jobs/{sid}", timeout=10) as r:
        job = json.load(r)
    assert job["status"] == "SUCCEEDED", (job.get("message"), out.stdout[-3000:],
                                          out.stderr[-2000:])
    assert out.returncode == 0
    check_logged(server, "multinode-job", work)
