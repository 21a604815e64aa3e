"""REMUL: relaxed equivariance via multitask learning.

Core (plain torch): :func:`remul.train`, :mod:`remul.groups`, :mod:`remul.losses`,
:mod:`remul.weighting`, :mod:`remul.metrics`, :mod:`remul.tasks`, :mod:`remul.models`.
Sweep service (Ray Tune + Optuna + MLflow): :func:`remul.tune_remul` (imported lazily).
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name):
    if name == "train":
        from remul.train import train

        return train
    if name in ("tune_remul", "SweepResult"):
        import remul.tune as _tune

        return getattr(_tune, name)
    raise AttributeError(f"module 'remul' has no attribute {name!r}")


__all__ = ["SweepResult", "__version__", "train", "tune_remul"]
