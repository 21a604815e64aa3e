"""The Ray Tune trainable: :func:`remul.train.train` wrapped to report every epoch.

- After an epoch, once ``report_interval_s`` (default 1 s; 0 = every epoch) has passed since the
  last report: ``tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(...))`` with
  that epoch's checkpoint. Epochs shorter than the interval are batched: the report carries the
  metrics of the epochs in between as ``epoch_history``, so MLflow still gets every epoch, while
  the per-report round trip to the driver (~50 ms on 2 busy cores) stays a small share. The
  objectives not known before the end (e.g. ``val_equi_error``) are NaN in epoch reports.
- At the end: one more report with the final result and ``final=True``.
- A trial that Ray restarts (``FailureConfig(max_failures=2)``, or ``Tuner.restore``) resumes
  from its last checkpoint (``config["resume_from"]``).
- Resume: Ray deletes a trial's older checkpoints (``num_to_keep``) before its experiment snapshot
  naming the newer ones reaches storage, so a sweep killed in between restores a snapshot whose
  checkpoint is gone; :func:`ensure_restorable` (called by the driver before a trial starts)
  points the trial at the oldest surviving newer checkpoint instead of letting it fail.
- Data: the driver loads the dataset once and ``ray.put``s it; the trainable gets the object ref
  (one copy per node in the object store) and keeps the splits in a per-process cache, so a
  reused actor does not even deserialise them again. A trial whose data config differs from the
  preloaded one loads its own (per-process cache; the N-body generator also caches on disk).
- Device: CUDA when the trial was given a GPU and CUDA is available, else CPU (so a cluster
  with logical GPUs still runs). Torch threads = the trial's CPUs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from remul.tune.space import deep_merge, strip_none

_SPLITS_CACHE: dict[str, object] = {}

#: test hook: ``"<point>:<marker file>"`` makes the first trial that reaches ``<point>``
#: (``before_final``: after the last epoch's report; ``after_final``: after the final report)
#: create the marker file and hang, so a test can kill the sweep at that exact point.
STALL_ENV = "REMUL_TUNE_TEST_STALL"


def _maybe_stall(point: str) -> None:
    spec = os.environ.get(STALL_ENV, "")
    want, _, marker = spec.partition(":")
    if want != point or not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # another trial stalled already
    os.close(fd)
    while True:  # until the test kills the sweep
        time.sleep(1.0)


def data_key(task: str, data: dict, seed: int) -> str:
    return json.dumps({"task": task, "data": data, "seed": seed}, sort_keys=True, default=str)


@dataclass
class TrialSetup:
    """Constants of a sweep, passed to every trial with ``tune.with_parameters``."""

    task: str
    base_config: dict
    objectives: tuple[str, ...]
    cpus: float = 1.0
    report_interval_s: float = 1.0  # report (and checkpoint) once this much time has passed
    data_refs: dict = field(default_factory=dict)  # data_key -> [ObjectRef] (not resolved)


def _numeric_items(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, bool):
            out[k] = v
        elif isinstance(v, (int, float)):
            out[k] = v
    return out


def _splits_for(setup: TrialSetup, task, cfg: dict):
    import ray

    key = data_key(setup.task, cfg["data"], cfg["seed"])
    if key in _SPLITS_CACHE:
        return _SPLITS_CACHE[key]
    ref = setup.data_refs.get(key)
    splits = ray.get(ref[0]) if ref else task.load(cfg["data"], cfg["seed"])
    if len(_SPLITS_CACHE) >= 4:
        _SPLITS_CACHE.pop(next(iter(_SPLITS_CACHE)))
    _SPLITS_CACHE[key] = splits
    return splits


def _checkpoint_index(name: str) -> int | None:
    prefix = "checkpoint_"
    if name.startswith(prefix) and name[len(prefix):].isdigit():
        return int(name[len(prefix):])
    return None


def ensure_restorable(trial) -> str | None:
    """Driver side, before a (restored) trial starts: if the checkpoint Ray will restore it from
    no longer exists, point the trial at another one. Returns None if nothing was changed, else
    the checkpoint it now resumes from ("" = from scratch).

    Why: Ray deletes old checkpoints (``CheckpointConfig(num_to_keep=K)``) while processing
    checkpoint ``k + K``, but the experiment snapshot naming ``k + K`` reaches storage later
    (asynchronously), so a sweep killed in between is restored with its latest checkpoint
    deleted, and the trial fails with "Could not recover from checkpoint" on every retry.
    The oldest surviving checkpoint newer than the missing one was processed by the driver
    (its epochs are in MLflow, which ignores the epochs it already has), so the trial resumes
    from there; failing that, from the newest surviving one; failing that, from scratch.
    """
    import posixpath

    import pyarrow.fs as pafs
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint

    cpm = trial.run_metadata.checkpoint_manager
    latest = cpm.latest_checkpoint_result
    if latest is None or latest.checkpoint is None:
        return None
    ck = latest.checkpoint
    fs = ck.filesystem

    def exists(path: str) -> bool:
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    if exists(ck.path):
        return None
    parent, name = posixpath.split(ck.path.rstrip("/"))
    missing = _checkpoint_index(name)
    found = []
    for info in fs.get_file_info(pafs.FileSelector(parent, allow_not_found=True)):
        i = _checkpoint_index(info.base_name)
        if i is not None and info.type == pafs.FileType.Directory:
            found.append((i, info.path))
    found.sort()
    newer = [p for i, p in found if missing is None or i > missing]
    pick = newer[0] if newer else (found[-1][1] if found else None)
    # forget the deleted checkpoints (Ray would try to delete them again)
    cpm._checkpoint_results = [r for r in cpm._checkpoint_results
                               if r.checkpoint is not None and exists(r.checkpoint.path)]
    # (Ray 2.60 internals; the metrics only seed Ray's iteration counters)
    cpm._latest_checkpoint_result = None if pick is None else _TrainingResult(
        checkpoint=Checkpoint(pick, filesystem=fs), metrics=dict(latest.metrics or {}))
    trial.run_metadata.invalidate_cache()
    import logging

    logging.getLogger(__name__).warning(
        "trial %s: checkpoint %s is gone; resuming from %s", trial, ck.path,
        pick or "scratch")
    return pick or ""


def remul_trainable(config: dict, setup: TrialSetup) -> None:
    """Function trainable; ``config`` holds the searched keys, ``setup`` the constants."""
    import ray
    import torch
    from ray import tune

    from remul.config import resolve_config
    from remul.tasks import get_task
    from remul.train import train

    task = get_task(setup.task)
    cfg = resolve_config(task, deep_merge(setup.base_config, strip_none(dict(config))))
    torch.set_num_threads(max(1, int(setup.cpus)))
    if cfg["device"] == "auto":
        gpus = ray.get_gpu_ids() if ray.is_initialized() else []
        cfg["device"] = "cuda" if gpus and torch.cuda.is_available() else "cpu"
    splits = _splits_for(setup, task, cfg)

    work = tempfile.mkdtemp(prefix="remul-trial-")
    try:
        cfg["checkpoint_dir"] = f"{work}/ckpt"
        ckpt = tune.get_checkpoint()
        if ckpt is not None:
            cfg["resume_from"] = ckpt.to_directory(f"{work}/restored")

        pending: list[dict] = []  # epochs not reported yet
        last_report = [time.monotonic()]

        def flush(checkpoint_dir) -> None:
            rep = dict(pending[-1])
            for o in setup.objectives:
                rep.setdefault(o, math.nan)
            if len(pending) > 1:
                rep["epoch_history"] = json.dumps(pending[:-1])  # a string: loggers skip it
            pending.clear()
            if checkpoint_dir:
                tune.report(rep, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))
            else:
                tune.report(rep)
            last_report[0] = time.monotonic()

        def callback(metrics: dict, checkpoint_dir):
            if metrics.get("final"):
                return  # reported below, once train returns
            pending.append(_numeric_items(metrics))
            if time.monotonic() - last_report[0] >= setup.report_interval_s:
                flush(checkpoint_dir)

        result = train(task, cfg, callback, splits=splits)
        final = _numeric_items(result)
        final["epoch"] = int(result.get("epochs", 1)) - 1
        final["final"] = True
        final["on_gpu"] = int(str(cfg["device"]).startswith("cuda"))
        for o in setup.objectives:
            final.setdefault(o, math.nan)
        if pending:
            final["epoch_history"] = json.dumps(pending)
        _maybe_stall("before_final")
        tune.report(final)
        _maybe_stall("after_final")
    finally:
        shutil.rmtree(work, ignore_errors=True)
