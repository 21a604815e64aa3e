"""Resume: a sweep in a subprocess is killed mid-way, then ``tune_remul(resume=True)`` finishes it.
Every trial appears exactly once in MLflow and in the results, and no epoch is logged twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from remul.tune import tracking

N_EPOCHS = 10
SCRIPT = textwrap.dedent('''
    import sys
    from ray import tune
    from remul.tune import tune_remul

    SPACE = {
        "model": {"name": "mlp", "hidden": 16, "layers": 2},
        "data": {"n_train": 256, "n_val": 64, "n_test": 64, "n_ood": 64},
        "epochs": N_EPOCHS, "batch_size": 16, "metrics": {"M": 4, "n_samples": 16},
        "beta": tune.grid_search([0.01, 0.1, 1.0, 10.0]),
    }

    if __name__ == "__main__":
        tune_remul("nbody", SPACE, search="grid", max_concurrent_trials=1, num_cpus=2,
                   tracking_uri=sys.argv[1], storage_path=sys.argv[2], experiment="resume",
                   verbose=0, report_interval_s=0)  # report and checkpoint every epoch
''').replace("N_EPOCHS", str(N_EPOCHS))


def _state(client):
    exp = client.get_experiment_by_name("resume")
    if exp is None:
        return 0, 0
    runs = client.search_runs([exp.experiment_id], "tags.`remul.kind` = 'trial'")
    done = sum(r.data.tags.get(tracking.TAG_FINAL) == "true" for r in runs)
    running = sum(int(r.data.tags.get(tracking.TAG_LAST_EPOCH, -1)) >= 1 and
                  r.data.tags.get(tracking.TAG_FINAL) != "true" for r in runs)
    return done, running


@pytest.mark.timeout(600)
def test_killed_sweep_resumes_without_duplicates(ray_session, tmp_path, monkeypatch):
    from remul.tune import tune_remul

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    storage = tmp_path / "ray"
    script = tmp_path / "run_sweep.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "sweep.log", "w")
    proc = subprocess.Popen([sys.executable, str(script), uri, str(storage)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 240
        client = None
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "sweep.log").read_text()[-3000:]
            if (tmp_path / "mlruns.db").exists():
                try:
                    client = client or tracking.client_for(uri)
                    done, running = _state(client)
                except Exception:  # noqa: BLE001 - the store is being created
                    done, running = 0, 0
                if done >= 1 and running >= 1:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the sweep did not get mid-way in time")
    finally:
        # kill the driver and the Ray processes it started (its own process group)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        log.close()
    client = client or tracking.client_for(uri)
    done_before, _ = _state(client)
    assert done_before < 4

    res = tune_remul("nbody", {}, search="grid", tracking_uri=uri, storage_path=str(storage),
                     experiment="resume", resume=True, verbose=0)

    children = tracking.child_runs(client, res.experiment_id, res.parent_run_id)
    ids = [c.data.tags[tracking.TAG_TRIAL] for c in children]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert len(res.results) == 4 and res.results["trial_id"].is_unique
    assert set(res.results["trial_id"]) == set(ids)
    cols = [c for c in ("trial_id", "status", "error", "final", "epoch", "val_mse")
            if c in res.results.columns]
    assert res.results["final"].all(), res.results[cols].to_string()
    for c in children:
        assert c.info.status == "FINISHED"
        assert c.data.tags.get(tracking.TAG_FINAL) == "true"
        steps = [m.step for m in client.get_metric_history(c.info.run_id, "train_loss")]
        assert sorted(steps) == list(range(N_EPOCHS)), steps  # each epoch exactly once
        finals = client.get_metric_history(c.info.run_id, "test_mse")
        assert len(finals) == 1
    assert client.get_run(res.parent_run_id).info.status == "FINISHED"
    assert len(tracking.child_runs(client, res.experiment_id, res.parent_run_id)) == 4
