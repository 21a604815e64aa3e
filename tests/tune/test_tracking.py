"""MLflow helpers: store defaults, retries with backoff, concurrent SQLite writers lose nothing."""

from __future__ import annotations

import threading
import time

import pytest

from remul.tune import tracking


def test_default_store_is_sqlite_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking.default_tracking_uri()
    assert uri == f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert tracking.artifact_root(uri) == (tmp_path / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.default_tracking_uri() == "http://127.0.0.1:5999"
    assert tracking.default_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
    assert tracking.artifact_root("http://127.0.0.1:5999") is None
    with pytest.raises(ValueError, match="file store"):
        tracking.default_tracking_uri(str(tmp_path / "mlruns"))


def test_retry_backs_off_on_locked_database():
    calls = []

    def flaky():
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert tracking.with_retry(flaky, base=0.01) == "ok"
    assert len(calls) == 3 and calls[2] - calls[0] >= 0.01  # retried after a wait


def test_retry_does_not_hide_real_errors():
    def bad():
        raise KeyError("not transient")

    with pytest.raises(KeyError):
        tracking.with_retry(bad)


def test_concurrent_writers_lose_no_metrics(tmp_path):
    from mlflow.entities import Metric

    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    client = tracking.client_for(uri)
    exp = tracking.get_or_create_experiment(client, "conc", uri)
    runs = [client.create_run(exp).info.run_id for _ in range(4)]
    errors = []

    def writer(run_id):
        c = tracking.client_for(uri)  # one client (engine) per writer, like separate processes
        try:
            for step in range(40):
                ts = int(time.time() * 1000)
                tracking.with_retry(c.log_batch, run_id,
                                    metrics=[Metric("m", float(step), ts, step),
                                             Metric("n", -float(step), ts, step)])
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in runs:
        assert [m.step for m in client.get_metric_history(r, "m")] == list(range(40))
        assert len(client.get_metric_history(r, "n")) == 40
