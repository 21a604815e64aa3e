"""MLflow side of the sweep service: store defaults, retries, parent and child runs, artifacts.

Store: ``tracking_uri=`` > ``$MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlruns.db``, artifacts
of a SQLite store in ``mlartifacts/`` next to the database file. No server is needed, and the
deprecated file store is never used.

Child runs are written from the Ray driver by :class:`MlflowTrialCallback` (a Ray Tune callback),
so only the driver needs to reach the store (a SQLite file locally, an HTTP server on a cluster)
and a single process writes. Every write goes through :func:`with_retry` (exponential backoff with
jitter on "database is locked" and transient connection errors).

Idempotence (resume): a child run is found again by the tags ``mlflow.parentRunId`` and
``remul.trial_id``; epochs already logged (``remul.last_epoch`` tag) and a final result already
logged (``remul.final`` tag) are not logged again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ray.tune import Callback  # importing does not start Ray

logger = logging.getLogger(__name__)

TAG_PARENT = "mlflow.parentRunId"
TAG_TRIAL = "remul.trial_id"
TAG_TASK = "remul.task"
TAG_KIND = "remul.kind"
TAG_FINAL = "remul.final"
TAG_LAST_EPOCH = "remul.last_epoch"
TAG_FRONTIER = "frontier"

#: Ray Tune's own result keys, never logged as metrics
RAY_KEYS = {
    "timestamp", "time_this_iter_s", "time_total_s", "pid", "hostname", "node_ip",
    "time_since_restore", "iterations_since_restore", "training_iteration", "done",
    "date", "experiment_tag", "checkpoint_dir_name", "should_checkpoint", "trial_id",
    "config", "episodes_total", "timesteps_total", "timesteps_since_restore", "warmup_time",
    "final", "epoch", "epoch_history",
}


def default_tracking_uri(tracking_uri: str | None = None) -> str:
    """``tracking_uri`` > ``$MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlruns.db``."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        uri = f"sqlite:///{Path.cwd() / 'mlruns.db'}"
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        raise ValueError(
            f"tracking_uri: {uri!r} is the deprecated file store; use sqlite:///path.db or "
            "http://host:port"
        )
    return uri


def sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):])
    return None


def artifact_root(uri: str) -> str | None:
    """For a SQLite store: ``file://<db dir>/mlartifacts``; for a server: None (its default)."""
    db = sqlite_path(uri)
    if db is None:
        return None
    return (db.resolve().parent / "mlartifacts").as_uri()


def _transient(err: Exception) -> bool:
    text = f"{type(err).__name__}: {err}".lower()
    return any(s in text for s in (
        "database is locked", "database table is locked", "operationalerror", "busy",
        "connection refused", "connection reset", "temporarily unavailable", "timed out",
        "max retries exceeded", "remotedisconnected", "503", "502",
    ))


def with_retry(fn, *args, tries: int = 10, base: float = 0.05, cap: float = 3.0, **kwargs):
    """Call ``fn`` and retry transient store errors with exponential backoff and jitter."""
    for attempt in range(tries):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - filtered by _transient
            if attempt == tries - 1 or not _transient(err):
                raise
            delay = min(cap, base * 2**attempt) * (0.5 + random.random())
            logger.debug("mlflow: %s; retry %d in %.2fs", err, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def client_for(uri: str):
    """An MlflowClient for ``uri``. For a SQLite store, one process at a time opens it (a lock
    file ``.<db>.lock`` next to it): opening creates and migrates the schema, and two processes
    migrating a new database at once (a sweep and a watcher) can leave alembic's temporary table
    behind ("table _alembic_tmp_latest_metrics already exists"), which no retry repairs."""
    from mlflow import MlflowClient

    db = sqlite_path(uri)
    if db is None:
        return with_retry(MlflowClient, tracking_uri=uri)
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return with_retry(MlflowClient, tracking_uri=uri)
    with open(db.with_name(f".{db.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        return with_retry(MlflowClient, tracking_uri=uri)


def get_or_create_experiment(client, name: str, uri: str) -> str:
    exp = with_retry(client.get_experiment_by_name, name)
    if exp is not None:
        return exp.experiment_id
    try:
        return with_retry(client.create_experiment, name, artifact_location=artifact_root(uri))
    except Exception:  # created concurrently
        exp = with_retry(client.get_experiment_by_name, name)
        if exp is None:
            raise
        return exp.experiment_id


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("remul", "torch", "ray", "optuna", "mlflow", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def flatten_params(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and k not in ("train_group", "eval_group"):
            out.update(flatten_params(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (dict, list, tuple)) else str(v)
    return {k: v[:6000] for k, v in out.items()}


def _numeric(v) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return float(v)
    except ImportError:  # pragma: no cover
        pass
    return None


def start_parent(client, experiment_id: str, *, task: str, params: dict[str, Any],
                 run_name: str) -> str:
    tags = {TAG_TASK: task, TAG_KIND: "sweep", "remul.git_commit": git_commit()}
    tags.update({f"version.{k}": v for k, v in package_versions().items()})
    run = with_retry(client.create_run, experiment_id, tags=tags, run_name=run_name)
    from mlflow.entities import Param

    ps = [Param(k, v) for k, v in flatten_params(params).items()]
    with_retry(client.log_batch, run.info.run_id, params=ps)
    return run.info.run_id


def child_runs(client, experiment_id: str, parent_id: str) -> list:
    runs, token = [], None
    while True:
        page = with_retry(client.search_runs, [experiment_id],
                          filter_string=f"tags.`{TAG_PARENT}` = '{parent_id}'",
                          max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


class MlflowTrialCallback(Callback):
    """Ray Tune callback: one child run per trial under the sweep's parent run.

    Picklable (Ray stores callbacks with the experiment); the client is made lazily.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, task: str,
                 base_config: dict):
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.task = task
        self.base_config = base_config
        self._client = None
        self._runs: dict[str, dict] = {}  # trial_id -> {"run_id", "last_epoch", "final", "ts"}

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_client"] = None
        d["_runs"] = {}  # found again in MLflow on resume
        return d

    @property
    def client(self):
        if self._client is None:
            self._client = client_for(self.tracking_uri)
        return self._client

    # --- run lookup -------------------------------------------------------------------
    def run_for(self, trial) -> dict:
        tid = trial.trial_id
        if tid in self._runs:
            return self._runs[tid]
        found = with_retry(
            self.client.search_runs, [self.experiment_id],
            filter_string=f"tags.`{TAG_PARENT}` = '{self.parent_run_id}' and "
                          f"tags.`{TAG_TRIAL}` = '{tid}'",
            max_results=5,
        )
        if found:
            run = found[0]
            info = {
                "run_id": run.info.run_id,
                "last_epoch": int(run.data.tags.get(TAG_LAST_EPOCH, -1)),
                "final": run.data.tags.get(TAG_FINAL) == "true",
                "ts": 0,
            }
            if run.info.status != "RUNNING" and not info["final"]:
                with_retry(self.client.update_run, run.info.run_id, status="RUNNING")
        else:
            from mlflow.entities import Param

            from remul.tune.space import deep_merge, strip_none

            cfg = deep_merge(self.base_config, strip_none(dict(trial.config)))
            try:
                from remul.config import resolve_config
                from remul.tasks import get_task

                cfg = resolve_config(get_task(self.task), cfg)
            except Exception:  # noqa: BLE001 - log what we have
                pass
            for k in ("checkpoint_dir", "resume_from"):
                cfg.pop(k, None)
            run = with_retry(
                self.client.create_run, self.experiment_id, run_name=str(trial),
                tags={TAG_PARENT: self.parent_run_id, TAG_TRIAL: tid, TAG_TASK: self.task,
                      TAG_KIND: "trial", "remul.mode": str(cfg.get("mode"))},
            )
            params = [Param(k, v) for k, v in flatten_params(cfg).items()]
            for i in range(0, len(params), 100):
                with_retry(self.client.log_batch, run.info.run_id, params=params[i:i + 100])
            info = {"run_id": run.info.run_id, "last_epoch": -1, "final": False, "ts": 0}
        self._runs[tid] = info
        return info

    def _ts(self, info) -> int:
        ts = max(int(time.time() * 1000), info["ts"] + 1)
        info["ts"] = ts
        return ts

    # --- Ray Tune hooks -----------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        # runs before Ray restores the trial: repair a checkpoint deleted ahead of the snapshot
        from remul.tune.trainable import ensure_restorable

        try:
            ensure_restorable(trial)
        except Exception:  # noqa: BLE001 - Ray's own restore then reports the problem
            logger.warning("could not check the checkpoint of %s", trial, exc_info=True)
        self.run_for(trial)

    def on_trial_restore(self, iteration, trials, trial, **info):
        self.run_for(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        from mlflow.entities import RunTag

        run = self.run_for(trial)
        metrics, tags = [], {}
        history = result.get("epoch_history") or "[]"  # epochs batched into this report
        try:
            history = json.loads(history) if isinstance(history, str) else list(history)
        except (TypeError, ValueError):
            history = []
        for past in history:
            if isinstance(past, dict):
                self._collect(run, past, metrics, tags)
        self._collect(run, result, metrics, tags)
        if not metrics and not tags:
            return
        chunks = [metrics[i:i + 500] for i in range(0, len(metrics), 500)] or [[]]
        for i, chunk in enumerate(chunks):  # tags go with the last chunk (resume bookkeeping)
            last = i == len(chunks) - 1
            with_retry(self.client.log_batch, run["run_id"], metrics=chunk,
                       tags=[RunTag(k, v) for k, v in tags.items()] if last else [])

    def _collect(self, run: dict, result: dict, metrics: list, tags: dict) -> None:
        from mlflow.entities import Metric

        final = bool(result.get("final"))
        epoch = result.get("epoch")
        epoch = int(epoch) if isinstance(epoch, (int, float)) and math.isfinite(epoch) else None
        if final and run["final"]:
            return
        if not final and epoch is not None and epoch <= run["last_epoch"]:
            return  # already logged (a trial resumed from an earlier checkpoint)
        step = max(run["last_epoch"], 0) if final or epoch is None else epoch
        ts = self._ts(run)
        for k, v in result.items():
            if k in RAY_KEYS:
                continue
            x = _numeric(v)
            if x is None or (not final and not math.isfinite(x)):
                continue
            metrics.append(Metric(k, x, ts, step))
        if final:
            tags[TAG_FINAL] = "true"
            run["final"] = True
        elif epoch is not None:
            tags[TAG_LAST_EPOCH] = str(epoch)
            run["last_epoch"] = epoch

    def on_trial_complete(self, iteration, trials, trial, **info):
        run = self.run_for(trial)
        with_retry(self.client.set_terminated, run["run_id"], "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        run = self.run_for(trial)
        err = getattr(trial, "error_file", None) or "error"
        with_retry(self.client.set_tag, run["run_id"], "remul.error", str(err)[:5000])
        with_retry(self.client.set_terminated, run["run_id"], "FAILED")
