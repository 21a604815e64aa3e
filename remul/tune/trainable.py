"""The Ray Tune trainable: :func:`remul.train.train` wrapped to report every epoch.

- Each epoch: ``tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(...))``; the
  objectives not known before the end (e.g. ``val_equi_error``) are NaN in epoch reports.
- At the end: one more report with the final result and ``final=True``.
- A trial that Ray restarts (``FailureConfig(max_failures=2)``, or ``Tuner.restore``) resumes
  from its last checkpoint (``config["resume_from"]``).
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
import shutil
import tempfile
from dataclasses import dataclass, field

from remul.tune.space import deep_merge, strip_none

_SPLITS_CACHE: dict[str, object] = {}


def data_key(task: str, data: dict, seed: int) -> str:
    return json.dumps({"task": task, "data": data, "seed": seed}, sort_keys=True, default=str)


@dataclass
class TrialSetup:
    """Constants of a sweep, passed to every trial with ``tune.with_parameters``."""

    task: str
    base_config: dict
    objectives: tuple[str, ...]
    cpus: float = 1.0
    checkpoint_every: int = 1  # epochs between checkpoints reported to Ray
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

        def callback(metrics: dict, checkpoint_dir):
            if metrics.get("final"):
                return  # reported below, once train returns
            rep = _numeric_items(metrics)
            for o in setup.objectives:
                rep.setdefault(o, math.nan)
            every = max(1, int(setup.checkpoint_every))
            if checkpoint_dir and (int(metrics.get("epoch", 0)) + 1) % every == 0:
                tune.report(rep, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))
            else:
                tune.report(rep)

        result = train(task, cfg, callback, splits=splits)
        final = _numeric_items(result)
        final["epoch"] = int(result.get("epochs", 1)) - 1
        final["final"] = True
        for o in setup.objectives:
            final.setdefault(o, math.nan)
        tune.report(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
