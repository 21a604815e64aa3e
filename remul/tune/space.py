"""Search spaces for :func:`remul.tune_remul`: schema, validation and mode-aware sampling.

Importing this module does not start Ray (only ``ray.tune.search.sample`` is imported).

Schema
------
A space is a dict over the training config keys of :mod:`remul.config` (all except
``checkpoint_dir`` and ``resume_from``, which the service sets). Each value is

- a plain value (fixed for every trial),
- a Ray Tune domain: ``tune.uniform``, ``tune.loguniform``, ``tune.quniform``, ``tune.qloguniform``,
  ``tune.randint``, ``tune.lograndint``, ``tune.qrandint``, ``tune.choice``,
- or ``tune.grid_search([...])``.

``model``, ``data`` and ``metrics`` are dicts whose entries may be domains too, e.g.
``{"model": {"name": "mlp", "hidden": tune.choice([32, 64])}}``; a dotted key
``"model.hidden"`` means the same.

Mode-dependent keys: a key is only sampled for the modes where it has an effect, so a search
never spends trials varying it elsewhere:

- ``gamma``, ``eta``: ``gradnorm`` only;
- ``alpha``, ``beta``: ``constant`` and ``gradnorm``;
- ``n_group_samples``, ``equi_loss``, ``train_group``: every mode but ``none``.

When ``mode`` is fixed to a mode where such a key has no effect, varying the key is an error.

Validation (:func:`validate_sweep`) runs before Ray starts and names the field: unknown keys,
bad ranges (lower >= upper, empty choices, unbounded ``randn``), values that
:func:`remul.config.resolve_config` rejects (e.g. a negative ``beta``, tried at both ends of every
range and at every choice), ``grid_search`` with ``search="optuna"``, continuous domains with
``search="grid"``, a multi-objective search with ``scheduler="asha"``, objectives that are not
validation metrics.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.tune.search import sample as _sample

from remul.config import DEFAULTS, MODES, resolve_config

SEARCHES = ("optuna", "grid", "random")
SCHEDULERS = (None, "asha")
DEFAULT_OBJECTIVES = ("val_mse", "val_equi_error")
SERVICE_KEYS = ("checkpoint_dir", "resume_from")
NESTED_KEYS = ("model", "data", "metrics")

#: key -> modes in which it has an effect
MODE_DEPENDENT: dict[str, tuple[str, ...]] = {
    "gamma": ("gradnorm",),
    "eta": ("gradnorm",),
    "alpha": ("constant", "gradnorm"),
    "beta": ("constant", "gradnorm"),
    "n_group_samples": ("constant", "gradnorm", "augmentation"),
    "equi_loss": ("constant", "gradnorm", "augmentation"),
    "train_group": ("constant", "gradnorm", "augmentation"),
}

_OPTUNA_CATEGORY_TYPES = (type(None), bool, int, float, str)


def is_grid(v) -> bool:
    return isinstance(v, dict) and set(v) == {"grid_search"}


def is_domain(v) -> bool:
    return isinstance(v, _sample.Domain)


def is_searched(v) -> bool:
    return is_grid(v) or is_domain(v)


# ----------------------------------------------------------------------------- flattening


def flatten_space(space: dict) -> dict[str, Any]:
    """``{"model": {"hidden": d}}`` and ``{"model.hidden": d}`` -> ``{"model.hidden": d}``."""
    if not isinstance(space, dict):
        raise ValueError(f"space: expected a dict, got {type(space).__name__}")
    out: dict[str, Any] = {}
    for key, val in space.items():
        if not isinstance(key, str):
            raise ValueError(f"space: keys must be strings, got {key!r}")
        top = key.split(".", 1)[0]
        if "." in key:
            if top not in NESTED_KEYS:
                raise ValueError(
                    f"space.{key}: only {list(NESTED_KEYS)} take dotted sub-keys"
                )
            _put(out, key, val)
        elif key in NESTED_KEYS and isinstance(val, dict) and not is_grid(val):
            for sub, v in val.items():
                _put(out, f"{key}.{sub}", v)
        else:
            _put(out, key, val)
    return out


def _put(out: dict, key: str, val) -> None:
    if key in out:
        raise ValueError(f"space.{key}: given twice")
    out[key] = val


def unflatten(flat: dict[str, Any]) -> dict:
    """``{"model.hidden": 32}`` -> ``{"model": {"hidden": 32}}`` (``/`` separates too)."""
    out: dict = {}
    for key, val in flat.items():
        parts = key.replace("/", ".").split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = val
    return out


def strip_none(d: dict) -> dict:
    """Drop None leaves: keys a trial does not use (e.g. gamma outside gradnorm)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = strip_none(v)
            if v:
                out[k] = v
        elif v is not None:
            out[k] = v
    return out


def template(configs: list[dict]) -> dict:
    """A param_space holding every key of ``configs`` with value None (a grid or random
    search passes its configs as ``points_to_evaluate``, which must name existing keys)."""
    out: dict = {}
    for c in configs:
        for k in flatten_space(c) if c else {}:
            out[k] = None
    return unflatten(out)


def deep_merge(base: dict, update: dict) -> dict:
    """Recursive merge (dicts merge key by key, other values replace)."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ----------------------------------------------------------------------------- domains


def describe(v) -> Any:
    """A JSON-able description of a space value (for MLflow params and error messages)."""
    if is_grid(v):
        return {"grid_search": [describe(x) for x in v["grid_search"]]}
    if isinstance(v, _sample.Categorical):
        return {"choice": [describe(x) for x in v.categories]}
    if isinstance(v, (_sample.Float, _sample.Integer)):
        s = v.get_sampler()
        q = None
        if isinstance(s, _sample.Quantized):
            q, s = s.q, s.sampler
        kind = "int" if isinstance(v, _sample.Integer) else "float"
        name = type(s).__name__.lstrip("_").lower()
        d = {f"{kind}_{name}": [v.lower, v.upper]}
        if q is not None:
            d["q"] = q
        return d
    if is_domain(v):
        return {type(v).__name__.lower(): str(v)}
    if isinstance(v, dict):
        return {k: describe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [describe(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def describe_space(space: dict) -> str:
    return json.dumps(describe(unflatten(flatten_space(space))), sort_keys=True)


def _check_domain(key: str, v) -> None:
    """Reject bad ranges and unsupported domain types, naming the field."""
    if is_grid(v):
        vals = v["grid_search"]
        if not isinstance(vals, (list, tuple)) or len(vals) == 0:
            raise ValueError(f"space.{key}: grid_search needs a non-empty list")
        return
    if isinstance(v, _sample.Categorical):
        if len(v.categories) == 0:
            raise ValueError(f"space.{key}: choice needs a non-empty list")
        return
    if isinstance(v, (_sample.Float, _sample.Integer)):
        s = v.get_sampler()
        if isinstance(s, _sample.Normal) or (
            isinstance(s, _sample.Quantized) and isinstance(s.sampler, _sample.Normal)
        ):
            raise ValueError(f"space.{key}: tune.randn is unbounded; use uniform/loguniform")
        lo, hi = v.lower, v.upper
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"space.{key}: bad range [{lo}, {hi}]: bounds must be finite")
        if lo >= hi:
            raise ValueError(f"space.{key}: bad range: lower {lo} must be < upper {hi}")
        base = s.sampler if isinstance(s, _sample.Quantized) else s
        if isinstance(base, _sample.LogUniform) and lo <= 0:
            raise ValueError(f"space.{key}: bad range: log scale needs lower > 0, got {lo}")
        return
    if isinstance(v, _sample.Function):
        raise ValueError(
            f"space.{key}: tune.sample_from is not supported; use choice/uniform/loguniform "
            "(mode-dependent keys are made conditional automatically)"
        )
    raise ValueError(f"space.{key}: unsupported domain {type(v).__name__}")


def candidates(v) -> list:
    """Representative values of a space entry: every category / grid value, both range ends."""
    if is_grid(v):
        return list(v["grid_search"])
    if isinstance(v, _sample.Categorical):
        return list(v.categories)
    if isinstance(v, _sample.Integer):
        return [int(v.lower), int(v.upper) - 1]
    if isinstance(v, _sample.Float):
        return [float(v.lower), float(v.upper)]
    return [v]


# ----------------------------------------------------------------------------- the spec


@dataclass
class SweepSpec:
    """A validated sweep: the fixed config, the searched entries and the options."""

    task: str
    fixed: dict  # nested config of plain values
    searched: dict[str, Any]  # flat key -> domain or grid
    search: str
    objectives: tuple[str, ...]
    scheduler: str | None
    num_samples: int
    seed: int
    resources: dict = field(default_factory=lambda: {"cpu": 1.0, "gpu": 0.0})
    max_concurrent_trials: int | None = None
    space_description: str = "{}"

    @property
    def mode_values(self) -> list[str]:
        if "mode" in self.searched:
            return list(candidates(self.searched["mode"]))
        return [self.fixed.get("mode", DEFAULTS["mode"])]

    def active(self, key: str, mode: str) -> bool:
        top = key.split(".", 1)[0]
        return mode in MODE_DEPENDENT.get(top, MODES)

    def base_config(self) -> dict:
        return copy.deepcopy(self.fixed)

    # --- enumerated searches (grid / random): a list of trial configs ---------------------
    def trial_configs(self) -> list[dict]:
        """The trial configs (searched keys only, nested) for ``grid`` and ``random``."""
        if self.search == "optuna":
            raise ValueError("trial_configs: optuna samples its own configs")
        grid_keys = [
            k for k, v in self.searched.items()
            if is_grid(v) or (self.search == "grid" and isinstance(v, _sample.Categorical))
        ]
        grid_lists = [candidates(self.searched[k]) for k in grid_keys]
        random_keys = [k for k in self.searched if k not in grid_keys]
        rng = np.random.default_rng(self.seed)
        repeats = self.num_samples
        configs: list[dict] = []
        seen: set[str] = set()
        for r in range(repeats):
            for combo in itertools.product(*grid_lists) if grid_keys else [()]:
                flat = dict(zip(grid_keys, combo))
                mode = flat.get("mode")
                if mode is None and "mode" in random_keys:
                    mode = self.searched["mode"].sample(random_state=rng)
                    flat["mode"] = mode
                if mode is None:
                    mode = self.fixed.get("mode", DEFAULTS["mode"])
                for k in random_keys:
                    if k == "mode" or not self.active(k, mode):
                        continue
                    flat[k] = _py(self.searched[k].sample(random_state=rng))
                flat = {k: v for k, v in flat.items() if self.active(k, mode)}
                if self.search == "grid" and repeats > 1 and "seed" not in self.searched:
                    flat["seed"] = int(self.fixed.get("seed", DEFAULTS["seed"])) + r
                key = json.dumps(flat, sort_keys=True, default=str)
                if key in seen:  # a combination that differs only in inactive keys
                    continue
                seen.add(key)
                configs.append(unflatten(flat))
        return configs

    def n_trials(self) -> int:
        return self.num_samples if self.search == "optuna" else len(self.trial_configs())


def _py(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


class OptunaSpace:
    """Define-by-run Optuna space: mode first, then only the keys active in that mode.

    Picklable (Ray checkpoints the searcher). Parameter names are the flat keys with ``/``
    (``model/hidden``), which Ray's OptunaSearch unflattens into nested dicts.
    """

    def __init__(self, searched: dict[str, Any], fixed_mode: str):
        self.searched = dict(searched)
        self.fixed_mode = fixed_mode

    def __call__(self, trial):
        mode = self.fixed_mode
        if "mode" in self.searched:
            mode = _suggest(trial, "mode", self.searched["mode"])
        for key, dom in self.searched.items():
            if key == "mode":
                continue
            if mode not in MODE_DEPENDENT.get(key.split(".", 1)[0], MODES):
                continue
            _suggest(trial, key.replace(".", "/"), dom)
        return None


def _suggest(trial, name: str, dom):
    if isinstance(dom, _sample.Categorical):
        return trial.suggest_categorical(name, list(dom.categories))
    s = dom.get_sampler()
    q = None
    if isinstance(s, _sample.Quantized):
        q, s = s.q, s.sampler
    log = isinstance(s, _sample.LogUniform)
    if isinstance(dom, _sample.Integer):
        return trial.suggest_int(name, int(dom.lower), int(dom.upper) - 1, step=int(q or 1),
                                 log=log)
    if q is not None and not log:
        return trial.suggest_float(name, dom.lower, dom.upper, step=q)
    return trial.suggest_float(name, dom.lower, dom.upper, log=log)


# ----------------------------------------------------------------------------- validation


def _resolve(task_obj, cfg: dict, key: str | None) -> None:
    try:
        resolve_config(task_obj, cfg)
    except ValueError as err:
        where = f"space.{key}: " if key else "space: "
        raise ValueError(f"{where}{err}") from None


def validate_sweep(
    task: str,
    space: dict,
    *,
    search: str = "optuna",
    objectives=DEFAULT_OBJECTIVES,
    scheduler: str | None = None,
    num_samples: int | None = None,
    seed: int = 0,
    resources_per_trial: dict | None = None,
    max_concurrent_trials: int | None = None,
) -> SweepSpec:
    """Check a sweep before Ray starts; raise ``ValueError`` naming the field."""
    from remul.tasks import get_task

    task_obj = get_task(task)
    if search not in SEARCHES:
        raise ValueError(f"search: unknown value {search!r}; allowed: {list(SEARCHES)}")
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler: unknown value {scheduler!r}; allowed: {list(SCHEDULERS)}")
    if isinstance(objectives, str):
        objectives = (objectives,)
    objectives = tuple(objectives or ())
    if not objectives:
        raise ValueError("objectives: need at least one metric")
    for o in objectives:
        if not isinstance(o, str) or not o.startswith("val_"):
            raise ValueError(
                f"objectives: {o!r} is not a validation metric (names start with 'val_'); "
                "test metrics are reported for the chosen points, never used to choose"
            )
    if len(set(objectives)) != len(objectives):
        raise ValueError(f"objectives: duplicates in {list(objectives)}")
    if scheduler == "asha" and len(objectives) > 1:
        raise ValueError(
            f"scheduler: 'asha' stops trials on one metric; with the multi-objective "
            f"objectives {list(objectives)} it would feed early-stopped trials into the "
            "Pareto set. Use scheduler=None, or a single objective."
        )
    if num_samples is None:  # grid: the grid once; optuna/random: 8 samples
        num_samples = 1 if search == "grid" else 8
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"num_samples: must be an integer >= 1, got {num_samples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed: must be an integer, got {seed!r}")
    res = {"cpu": 1.0, "gpu": 0.0}
    for k, v in (resources_per_trial or {}).items():
        if k not in res:
            raise ValueError(f"resources_per_trial: unknown key {k!r}; allowed: ['cpu', 'gpu']")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"resources_per_trial.{k}: must be a number, got {v!r}")
        res[k] = float(v)
    if res["cpu"] <= 0:
        raise ValueError(f"resources_per_trial.cpu: must be > 0, got {res['cpu']}")
    if res["gpu"] < 0:
        raise ValueError(f"resources_per_trial.gpu: must be >= 0, got {res['gpu']}")
    if res["gpu"] > 1 and res["gpu"] != int(res["gpu"]):
        raise ValueError(f"resources_per_trial.gpu: fractions must be < 1, got {res['gpu']}")
    if max_concurrent_trials is not None and (
        not isinstance(max_concurrent_trials, int) or max_concurrent_trials < 1
    ):
        raise ValueError(
            f"max_concurrent_trials: must be None or an integer >= 1, got {max_concurrent_trials!r}"
        )

    flat = flatten_space(space)
    allowed = set(DEFAULTS) - set(SERVICE_KEYS)
    for key in flat:
        top = key.split(".", 1)[0]
        if top in SERVICE_KEYS:
            raise ValueError(f"space.{key}: set by the sweep service, not searchable")
        if top not in allowed:
            raise ValueError(f"space.{key}: unknown key; allowed: {sorted(allowed)}")
    for sub_top, allowed_sub in (
        ("data", set(task_obj.data_defaults)),
        ("metrics", set(DEFAULTS["metrics"])),
    ):
        for key in flat:
            if key.startswith(sub_top + ".") and key.split(".", 1)[1] not in allowed_sub:
                raise ValueError(
                    f"space.{key}: unknown key for task {task!r}; allowed: "
                    f"{sorted(allowed_sub)}"
                )

    searched = {k: v for k, v in flat.items() if is_searched(v)}
    fixed_flat = {k: v for k, v in flat.items() if k not in searched}
    for key, v in searched.items():
        _check_domain(key, v)
        if search == "optuna":
            if is_grid(v):
                raise ValueError(
                    f"space.{key}: tune.grid_search cannot be combined with search='optuna' "
                    "(use tune.choice, or search='grid')"
                )
            if isinstance(v, _sample.Categorical):
                bad = [c for c in v.categories if not isinstance(c, _OPTUNA_CATEGORY_TYPES)]
                if bad:
                    raise ValueError(
                        f"space.{key}: Optuna choices must be None/bool/int/float/str, got "
                        f"{bad[0]!r}; vary the sub-keys instead (e.g. 'model.hidden')"
                    )
        if search == "grid" and not (is_grid(v) or isinstance(v, _sample.Categorical)):
            raise ValueError(
                f"space.{key}: search='grid' needs tune.grid_search([...]) or tune.choice([...]) "
                "here, not a continuous domain"
            )
    if any(is_searched(x) for x in fixed_flat.values() if isinstance(x, dict)):
        raise ValueError("space: nested domains are only supported in model/data/metrics")

    fixed = unflatten(fixed_flat)
    fixed_mode = fixed.get("mode", DEFAULTS["mode"])
    # the model a sub-key refers to
    if "model.name" not in flat and any(k.startswith("model.") for k in flat):
        fixed.setdefault("model", {})["name"] = task_obj.config_defaults.get(
            "model", DEFAULTS["model"]
        )["name"]

    # mode-dependent keys when mode is fixed
    if "mode" not in searched:
        for key in searched:
            top = key.split(".", 1)[0]
            if top in MODE_DEPENDENT and fixed_mode not in MODE_DEPENDENT[top]:
                raise ValueError(
                    f"space.{key}: has no effect in mode {fixed_mode!r} (only in "
                    f"{list(MODE_DEPENDENT[top])}); fix it or search over 'mode'"
                )
    else:
        modes = candidates(searched["mode"])
        for m in modes:
            if m not in MODES:
                raise ValueError(f"space.mode: unknown value {m!r}; allowed: {list(MODES)}")
        for key in searched:
            top = key.split(".", 1)[0]
            if top in MODE_DEPENDENT and not set(modes) & set(MODE_DEPENDENT[top]):
                raise ValueError(
                    f"space.{key}: has no effect in modes {modes} (only in "
                    f"{list(MODE_DEPENDENT[top])})"
                )

    # resolve representative configs: fixed values, then every candidate of every key
    rep = {k: candidates(v)[0] for k, v in searched.items()}
    _resolve(task_obj, fixed, None)
    for key, v in searched.items():
        top = key.split(".", 1)[0]
        for c in candidates(v):
            trial = dict(rep, **{key: c})
            if top in MODE_DEPENDENT and key != "mode":
                ok = [m for m in candidates(searched.get("mode", fixed_mode))
                      if m in MODE_DEPENDENT[top]]
                if "mode" in searched and ok:
                    trial["mode"] = ok[0]
            mode = trial.get("mode", fixed_mode)
            trial = {k: x for k, x in trial.items() if k == key or
                     mode in MODE_DEPENDENT.get(k.split(".", 1)[0], MODES)}
            _resolve(task_obj, deep_merge(fixed, unflatten(trial)), key)

    spec = SweepSpec(
        task=task, fixed=fixed, searched=searched, search=search, objectives=objectives,
        scheduler=scheduler, num_samples=num_samples, seed=seed, resources=res,
        max_concurrent_trials=max_concurrent_trials,
        space_description=json.dumps(describe(unflatten(flat)), sort_keys=True),
    )
    if search != "optuna" and not spec.trial_configs():
        raise ValueError("space: the search produces no trials")
    return spec
