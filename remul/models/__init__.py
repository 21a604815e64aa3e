"""Model registry: ``build_model(cfg, spec)`` with ``cfg = {"name": ..., **sizes}``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from remul.models.base import PointModel
from remul.tasks.base import TaskSpec


@dataclass
class ModelEntry:
    factory: Callable[..., PointModel]  # factory(spec, **sizes)
    defaults: dict


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, factory: Callable[..., PointModel], defaults: dict) -> None:
    """Register a model; ``defaults`` lists every allowed size key with its default."""
    _REGISTRY[name] = ModelEntry(factory, dict(defaults))


def _load_builtin() -> None:
    import remul.models.mlp  # noqa: F401
    import remul.models.transformer  # noqa: F401

    for mod in ("remul.models.gnn", "remul.models.egnn"):
        try:
            __import__(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise


def model_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def model_defaults(name: str) -> dict:
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"model.name: unknown model {name!r}; allowed: {sorted(_REGISTRY)}")
    return dict(_REGISTRY[name].defaults)


def validate_model_config(cfg: dict) -> dict:
    """Fill defaults; reject unknown names and keys, naming the field and the allowed values."""
    if not isinstance(cfg, dict) or "name" not in cfg:
        raise ValueError(f"model: expected a dict with 'name' in {model_names()}, got {cfg!r}")
    defaults = model_defaults(cfg["name"])
    extra = set(cfg) - {"name"} - set(defaults)
    if extra:
        raise ValueError(
            f"model: unknown key(s) {sorted(extra)} for model {cfg['name']!r}; "
            f"allowed: {sorted(defaults)}"
        )
    out = {"name": cfg["name"], **defaults}
    out.update({k: v for k, v in cfg.items() if k != "name"})
    for k, v in out.items():
        if k != "name" and isinstance(v, int) and not isinstance(v, bool) and v < 1:
            raise ValueError(f"model.{k}: must be >= 1, got {v}")
    return out


def build_model(cfg: dict, spec: TaskSpec) -> PointModel:
    cfg = validate_model_config(cfg)
    sizes = {k: v for k, v in cfg.items() if k != "name"}
    return _REGISTRY[cfg["name"]].factory(spec, **sizes)


__all__ = [
    "PointModel",
    "build_model",
    "model_defaults",
    "model_names",
    "register_model",
    "validate_model_config",
]
