"""Resume: a sweep in a subprocess is killed mid-way, then ``tune_remul(resume=True)`` finishes it.
Every trial appears exactly once in MLflow and in the results, and no epoch is logged twice."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from remul.tune import tracking
from remul.tune.trainable import STALL_ENV, ensure_restorable

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


def _kill_group(proc, log) -> None:
    """SIGKILL the sweep driver and the Ray processes it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    log.close()


def _state(client):
    exp = client.get_experiment_by_name("resume")
    if exp is None:
        return 0, 0
    runs = client.search_runs([exp.experiment_id], "tags.`remul.kind` = 'trial'")
    done = sum(r.data.tags.get(tracking.TAG_FINAL) == "true" for r in runs)
    running = sum(int(r.data.tags.get(tracking.TAG_LAST_EPOCH, -1)) >= 1 and
                  r.data.tags.get(tracking.TAG_FINAL) != "true" for r in runs)
    return done, running


# A kill at a random moment can land while Ray copies its searcher state from the driver's
# staging directory to storage_path; that copy is not atomic, and a truncated
# basic-variant-state file makes Tuner.restore fail (seen once in ~40 runs). Until that is
# handled, this randomised test runs with -m slow; CI runs the deterministic kill below.
@pytest.mark.slow
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
        _kill_group(proc, log)
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


def _latest_checkpoints(exp_dir) -> dict:
    """trial_id -> the checkpoint path the latest experiment snapshot restores it from."""
    from ray.tune.experiment.trial import Trial

    state = json.loads(open(max(glob.glob(f"{exp_dir}/experiment_state-*.json"))).read())
    out = {}
    for trial_json, meta_json in state["trial_data"]:
        trial = Trial.from_json_state(trial_json, stub=True)
        trial.restore_run_metadata(meta_json)
        if trial.latest_checkpoint_result is not None:
            out[trial.trial_id] = trial.latest_checkpoint_result.checkpoint.path
    return out


@pytest.mark.timeout(600)
def test_resume_when_snapshot_checkpoint_was_deleted(ray_session, tmp_path, monkeypatch):
    """Deterministic form of the race behind the flaky test above: Ray deletes a trial's old
    checkpoints (num_to_keep=2) before the snapshot naming the newer ones reaches storage, so a
    sweep killed in between is restored from a checkpoint that is gone. Here the first trial
    stalls right after its last epoch's report, the sweep is killed, and the checkpoint the
    snapshot names is deleted: the trial must still resume and end with its final result."""
    from remul.tune import tune_remul

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    storage = tmp_path / "ray"
    script = tmp_path / "run_sweep.py"
    script.write_text(SCRIPT)
    marker = tmp_path / "stalled"
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    env[STALL_ENV] = f"before_final:{marker}"
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "sweep.log", "w")
    proc = subprocess.Popen([sys.executable, str(script), uri, str(storage)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not marker.exists():
            assert proc.poll() is None, (tmp_path / "sweep.log").read_text()[-3000:]
            assert time.time() < deadline, "the sweep did not stall in time"
            time.sleep(0.2)
        (exp_dir,) = [d for d in storage.iterdir() if d.is_dir()]
        t0 = time.time()  # the stalled trial's last checkpoint is in the synced snapshot
        while not any(p.endswith(f"checkpoint_{N_EPOCHS - 1:06d}")
                      for p in _latest_checkpoints(exp_dir).values()):
            assert time.time() - t0 < 60, _latest_checkpoints(exp_dir)
            time.sleep(0.2)
    finally:
        _kill_group(proc, log)
    (stalled,) = _latest_checkpoints(exp_dir).values()
    import shutil

    shutil.rmtree(stalled)  # what Ray's num_to_keep does ahead of the snapshot

    res = tune_remul("nbody", {}, search="grid", tracking_uri=uri, storage_path=str(storage),
                     experiment="resume", resume=True, verbose=0, quiet=True)
    cols = [c for c in ("trial_id", "status", "error", "final", "val_mse")
            if c in res.results.columns]
    assert len(res.results) == 4, res.results[cols].to_string()
    assert (res.results["status"] == "TERMINATED").all(), res.results[cols].to_string()
    assert res.results["final"].all(), res.results[cols].to_string()
    client = tracking.client_for(uri)
    for c in tracking.child_runs(client, res.experiment_id, res.parent_run_id):
        assert c.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(c.info.run_id, "train_loss")]
        assert sorted(steps) == list(range(N_EPOCHS)), steps
        assert len(client.get_metric_history(c.info.run_id, "test_mse")) == 1


class _Trial:
    def __init__(self, cpm):
        from types import SimpleNamespace

        self.run_metadata = SimpleNamespace(checkpoint_manager=cpm, invalidate_cache=lambda: None)


def _register(cpm, path):
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint

    path.mkdir(parents=True, exist_ok=True)
    cpm.register_checkpoint(_TrainingResult(Checkpoint(str(path)), {"training_iteration": 1}))


def test_ensure_restorable_picks_the_oldest_newer_checkpoint(tmp_path):
    import shutil

    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.tune import CheckpointConfig

    cpm = _CheckpointManager(CheckpointConfig(num_to_keep=2))
    for i in range(4):
        _register(cpm, tmp_path / f"checkpoint_{i:06d}")  # keeps 2, 3
    trial = _Trial(cpm)
    assert ensure_restorable(trial) is None  # present: unchanged
    assert cpm.latest_checkpoint_result.checkpoint.path.endswith("checkpoint_000003")
    # the snapshot knew 2 and 3; Ray then wrote 4, 5 and deleted 2, 3
    for i in (4, 5):
        (tmp_path / f"checkpoint_{i:06d}").mkdir()
    for i in (2, 3):
        shutil.rmtree(tmp_path / f"checkpoint_{i:06d}")
    assert ensure_restorable(trial).endswith("checkpoint_000004")
    assert cpm.latest_checkpoint_result.checkpoint.path.endswith("checkpoint_000004")
    assert cpm.latest_checkpoint_result.metrics == {"training_iteration": 1}
    assert cpm._checkpoint_results == []  # the deleted ones are forgotten
    # only older ones left: the newest of them; none left: from scratch
    shutil.rmtree(tmp_path / "checkpoint_000004")
    shutil.rmtree(tmp_path / "checkpoint_000005")
    (tmp_path / "checkpoint_000001").mkdir()
    cpm._latest_checkpoint_result.checkpoint.path = str(tmp_path / "checkpoint_000004")
    assert ensure_restorable(trial).endswith("checkpoint_000001")
    shutil.rmtree(tmp_path / "checkpoint_000001")
    assert ensure_restorable(trial) == ""
    assert cpm.latest_checkpoint_result is None
