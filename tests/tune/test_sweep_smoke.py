"""A real sweep: Ray (2 CPUs), Optuna, MLflow on SQLite in tmp_path; the sweep scripts; the CLI."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
from ray import tune

from remul.tune import tracking

ROOT = Path(__file__).resolve().parents[2]
PER_EPOCH = ("train_loss", "train_task_loss", "train_equi_loss", "alpha", "beta", "val_mse", "lr")
FINAL = ("val_mse", "test_mse", "ood_mse", "val_equi_error", "val_equi_error_prime",
         "equi_error", "equi_error_prime", "train_seconds", "n_params")


@pytest.fixture(scope="module")
def sweep(ray_session, tmp_path_factory, tiny):
    from remul.tune import tune_remul

    tmp = tmp_path_factory.mktemp("smoke")
    uri = f"sqlite:///{tmp / 'mlruns.db'}"
    space = {**tiny, "mode": tune.choice(["constant", "gradnorm"]),
             "beta": tune.loguniform(1e-2, 1e2), "gamma": tune.uniform(0.5, 2.0)}
    res = tune_remul("nbody", space, num_samples=4, seed=0, tracking_uri=uri,
                     storage_path=str(tmp / "ray"), experiment="smoke", verbose=0)
    return res, uri, tmp


def test_one_parent_with_four_nested_children(sweep):
    res, uri, _ = sweep
    client = tracking.client_for(uri)
    children = tracking.child_runs(client, res.experiment_id, res.parent_run_id)
    assert len(children) == 4
    assert len({c.data.tags[tracking.TAG_TRIAL] for c in children}) == 4
    parent = client.get_run(res.parent_run_id)
    assert parent.info.status == "FINISHED"
    for key in ("task", "space", "search", "objectives", "seed"):
        assert key in parent.data.params
    assert parent.data.params["search"] == "optuna"
    assert "remul.git_commit" in parent.data.tags and "version.ray" in parent.data.tags
    assert parent.data.metrics["n_trials"] == 4
    for c in children:
        assert c.info.status == "FINISHED"
        assert c.data.params["mode"] in ("constant", "gradnorm")
        assert c.data.params["model.name"] == "mlp"
        assert ("gamma" in c.data.params)  # full config logged
        for k in FINAL:
            assert k in c.data.metrics, k
        for k in PER_EPOCH:
            steps = [m.step for m in client.get_metric_history(c.info.run_id, k)]
            assert set(steps) == {0, 1}, (k, steps)


def test_parent_artifacts_and_frontier_tags(sweep):
    res, uri, _ = sweep
    client = tracking.client_for(uri)
    names = {a.path for a in client.list_artifacts(res.parent_run_id)}
    assert {"results.csv", "frontier.csv", "frontier.png"} <= names
    for p in ("results.csv", "frontier.csv", "frontier.png"):
        assert Path(res.artifacts[p]).is_file()
    children = tracking.child_runs(client, res.experiment_id, res.parent_run_id)
    tagged = {c.data.tags[tracking.TAG_TRIAL] for c in children
              if c.data.tags.get("frontier") == "true"}
    assert tagged == set(res.frontier["trial_id"]) and len(tagged) >= 1
    assert all(c.data.tags.get("frontier") in ("true", "false") for c in children)


def test_result_tables(sweep):
    res, _, _ = sweep
    assert len(res.results) == 4 and res.results["trial_id"].is_unique
    assert set(res.results["mlflow_run_id"]) and res.results["mlflow_run_id"].str.len().min() > 0
    assert res.results["final"].all()
    assert math.isfinite(res.hypervolume) and res.hypervolume >= 0
    # gamma is only sampled for gradnorm trials
    for _, r in res.results.iterrows():
        has_gamma = isinstance(r.get("config.gamma"), float) and math.isfinite(r["config.gamma"])
        assert has_gamma == (r["mode"] == "gradnorm")
    assert (Path(res.optuna_storage[len("sqlite:///"):])).is_file()
    text = res.summary()
    assert "remul ui" in text and "frontier" in text


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "sweeps" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_nbody_beta_script_smoke_and_frontier_cli(ray_session, tmp_path, monkeypatch, capsys):
    from remul.cli import main as remul_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mod = _load_script("nbody_beta")
    assert mod.main(["--smoke", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "frontier" in out and "remul ui" in out
    assert (tmp_path / "mlruns.db").is_file() and (tmp_path / "mlartifacts").is_dir()
    # merged frontier of every sweep of the task in the default store
    assert remul_main(["frontier", "--task", "nbody", "--out", str(tmp_path / "fr")]) == 0
    out = capsys.readouterr().out
    assert "4 runs from 1 sweep(s)" in out
    import pandas as pd

    runs = pd.read_csv(tmp_path / "fr" / "all_runs.csv")
    assert set(runs["method"]) == {"REMUL (constant)", "augmentation"}
    assert runs["on_frontier"].any()
    assert (tmp_path / "fr" / "frontier.png").is_file()
    assert remul_main(["ui", "--dry-run", "--port", "5999"]) == 0
    out = capsys.readouterr().out
    assert "--host 127.0.0.1" in out and "mlruns.db" in out
