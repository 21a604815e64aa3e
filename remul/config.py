"""Training configuration: the documented keys, their defaults, and validation.

``resolve_config(task, config)`` merges ``DEFAULTS``, the task's ``config_defaults`` and the
user's config, and rejects bad input before any compute, naming the field and allowed values.

Keys (see README for the long form):

- ``mode``: ``constant`` | ``gradnorm`` | ``augmentation`` | ``none``.
- ``alpha``, ``beta``: task / equivariance weights (initial weights for gradnorm), >= 0, finite.
- ``gamma``: GradNorm asymmetry (>= 0); ``eta``: GradNorm weight learning rate (>= 0).
- ``n_group_samples``: transformed copies per input in L_equi (>= 1), averaged.
- ``equi_loss``: ``mse`` | ``l1``.
- ``lr``, ``weight_decay``, ``lr_schedule`` (``cosine`` | ``constant``), ``warmup_steps``,
  ``grad_clip`` (max grad norm, 0 = off).
- ``batch_size``; ``epochs``; ``max_steps`` (optional cap on optimiser steps, overrides epochs).
- ``early_stopping_patience``: evaluations without val improvement before stopping (0 = off).
- ``eval_every``: epochs between validation evaluations.
- ``seed``; ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
- ``model``: ``{"name": ..., **sizes}`` (see :mod:`remul.models`).
- ``data``: task-specific sizes (see each task's ``data_defaults``).
- ``metrics``: ``{"M": 100, "n_samples": 200, "chunk_size": 20000}``: group samples, test samples
  used for E/E', and the largest number of transformed copies per forward pass.
- ``train_group`` / ``eval_group``: group specs overriding the task's (see :mod:`remul.groups`).
- ``checkpoint_dir``: where to write the per-epoch checkpoint (None = off);
  ``resume_from``: a checkpoint directory to resume from.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from remul.groups import validate_group_spec
from remul.models import validate_model_config

MODES = ("constant", "gradnorm", "augmentation", "none")
EQUI_LOSSES = ("mse", "l1")
LR_SCHEDULES = ("cosine", "constant")

DEFAULTS: dict[str, Any] = {
    "mode": "constant",
    "alpha": 1.0,
    "beta": 1.0,
    "gamma": 1.5,
    "eta": 0.025,
    "n_group_samples": 1,
    "equi_loss": "mse",
    "lr": 3e-4,
    "weight_decay": 0.0,
    "lr_schedule": "cosine",
    "warmup_steps": 0,
    "grad_clip": 1.0,
    "batch_size": 64,
    "epochs": 100,
    "max_steps": None,
    "early_stopping_patience": 0,
    "eval_every": 1,
    "seed": 0,
    "device": "auto",
    "model": {"name": "transformer"},
    "data": {},
    "metrics": {"M": 100, "n_samples": 200, "chunk_size": 20000},
    "train_group": None,
    "eval_group": None,
    "checkpoint_dir": None,
    "resume_from": None,
}

_NONNEG_FLOATS = ("alpha", "beta", "gamma", "eta", "weight_decay", "grad_clip")
_POS_FLOATS = ("lr",)
_POS_INTS = ("n_group_samples", "batch_size", "epochs", "eval_every")
_NONNEG_INTS = ("early_stopping_patience", "warmup_steps", "seed")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_choice(cfg: dict, key: str, allowed) -> None:
    if cfg[key] not in allowed:
        raise ValueError(f"{key}: unknown value {cfg[key]!r}; allowed: {list(allowed)}")


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("model",):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_config(task, config: dict | None) -> dict:
    """Full, validated config for ``task`` (a :class:`remul.tasks.Task`)."""
    config = dict(config or {})
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(
            f"config: unknown key(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}"
        )
    cfg = _merge(DEFAULTS, task.config_defaults)
    if "model" in config and config["model"].get("name") != cfg["model"].get("name"):
        cfg["model"] = {}  # another model: its own defaults, not the task's sizes
    cfg = _merge(cfg, config)
    if "model" in config and "name" not in cfg["model"]:
        cfg["model"]["name"] = task.config_defaults.get("model", DEFAULTS["model"])["name"]

    _check_choice(cfg, "mode", MODES)
    _check_choice(cfg, "equi_loss", EQUI_LOSSES)
    _check_choice(cfg, "lr_schedule", LR_SCHEDULES)
    for k in _NONNEG_FLOATS:
        v = cfg[k]
        if not _is_number(v) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{k}: must be a finite number >= 0, got {v!r}")
    for k in _POS_FLOATS:
        v = cfg[k]
        if not _is_number(v) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{k}: must be a finite number > 0, got {v!r}")
    for k in _POS_INTS:
        v = cfg[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{k}: must be an integer >= 1, got {v!r}")
    for k in _NONNEG_INTS:
        v = cfg[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{k}: must be an integer >= 0, got {v!r}")
    if cfg["max_steps"] is not None and (
        not isinstance(cfg["max_steps"], int) or cfg["max_steps"] < 1
    ):
        raise ValueError(f"max_steps: must be None or an integer >= 1, got {cfg['max_steps']!r}")
    if cfg["mode"] in ("constant", "gradnorm") and cfg["alpha"] + cfg["beta"] <= 0:
        raise ValueError("alpha, beta: at least one must be > 0 in mode " + repr(cfg["mode"]))
    dev = cfg["device"]
    if not isinstance(dev, str) or not (dev in ("auto", "cpu", "cuda") or dev.startswith("cuda:")):
        raise ValueError(f"device: unknown value {dev!r}; allowed: auto, cpu, cuda, cuda:N")

    m = cfg["metrics"]
    extra = set(m) - set(DEFAULTS["metrics"])
    if extra:
        raise ValueError(
            f"metrics: unknown key(s) {sorted(extra)}; allowed: {sorted(DEFAULTS['metrics'])}"
        )
    for k in ("M", "n_samples", "chunk_size"):
        if not isinstance(m[k], int) or isinstance(m[k], bool) or m[k] < 1:
            raise ValueError(f"metrics.{k}: must be an integer >= 1, got {m[k]!r}")

    d = cfg["data"]
    extra = set(d) - set(task.data_defaults)
    if extra:
        raise ValueError(
            f"data: unknown key(s) {sorted(extra)} for task {task.name!r}; "
            f"allowed: {sorted(task.data_defaults)}"
        )
    cfg["data"] = {**task.data_defaults, **d}

    cfg["model"] = validate_model_config(cfg["model"])
    cfg["train_group"] = validate_group_spec(cfg["train_group"] or task.train_group, "train_group")
    cfg["eval_group"] = validate_group_spec(cfg["eval_group"] or task.eval_group, "eval_group")
    return cfg


def effective_weights(cfg: dict) -> tuple[float, float]:
    """(alpha, beta) a mode starts with: augmentation is (0, 1), none is (1, 0)."""
    if cfg["mode"] == "augmentation":
        return 0.0, 1.0
    if cfg["mode"] == "none":
        return 1.0, 0.0
    return float(cfg["alpha"]), float(cfg["beta"])
