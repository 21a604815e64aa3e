"""A real ``mlflow server`` on 127.0.0.1 receives a sweep over HTTP; its REST search finds the
runs. The server is lean (no job execution, one worker) and is stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ray import tune


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    exe = str(Path(sys.executable).with_name("mlflow"))
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server_artifacts")],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not come up")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)  # by PID; then its process group if it lingers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftover workers of that server only
        except ProcessLookupError:
            pass
        log.close()


@pytest.mark.timeout(400)
def test_sweep_logs_to_a_real_server(ray_session, mlflow_server, tmp_path, tiny, monkeypatch):
    from remul.tune import tune_remul

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # the env var is honoured
    res = tune_remul("nbody", {**tiny, "beta": tune.loguniform(1e-2, 1e2)}, search="random",
                     num_samples=2, storage_path=str(tmp_path / "ray"), experiment="server",
                     verbose=0)
    assert res.tracking_uri == mlflow_server
    exp = _post(mlflow_server + "/api/2.0/mlflow/experiments/search",
                {"max_results": 100, "filter": "name = 'server'"})
    exp_id = exp["experiments"][0]["experiment_id"]
    found = _post(mlflow_server + "/api/2.0/mlflow/runs/search",
                  {"experiment_ids": [exp_id], "max_results": 100})
    runs = found["runs"]
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [t for t in tags if t.get("remul.kind") == "sweep"]
    children = [t for t in tags if t.get("mlflow.parentRunId") == res.parent_run_id]
    assert len(parents) == 1 and len(children) == 2
    child = next(r for r in runs if r["info"]["run_id"] != res.parent_run_id)
    metrics = {m["key"] for m in child["data"]["metrics"]}
    assert {"val_mse", "val_equi_error", "test_mse", "train_loss", "alpha", "beta"} <= metrics
    arts = _post(mlflow_server + "/api/2.0/mlflow/runs/search",
                 {"experiment_ids": [exp_id], "filter": "tags.frontier = 'true'"})
    assert len(arts.get("runs", [])) == len(res.frontier) >= 1
    with urllib.request.urlopen(mlflow_server + "/api/2.0/mlflow/artifacts/list?run_id="
                                + res.parent_run_id, timeout=30) as r:
        files = {f["path"] for f in json.loads(r.read()).get("files", [])}
    assert {"results.csv", "frontier.csv", "frontier.png"} <= files
