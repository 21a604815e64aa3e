"""The sweep service: :func:`tune_remul` on Ray Tune + Optuna, tracked in MLflow.

- :mod:`remul.tune.space`: search-space schema and validation (no Ray start).
- :mod:`remul.tune.frontier`: Pareto set, hypervolume, plot (numpy/pandas only).
- :mod:`remul.tune.tracking`: MLflow store defaults, retries, parent/child runs.
- :mod:`remul.tune.trainable`: :func:`remul.train.train` wrapped for Ray Tune.
- :mod:`remul.tune.sweep`: :func:`tune_remul` and :class:`SweepResult`.
- :mod:`remul.tune.cli`: ``remul tune | frontier | ui``.
"""

from __future__ import annotations

import os as _os

# single-machine Ray binds to 127.0.0.1; Ray reads this when first imported
_os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def __getattr__(name):
    if name in ("tune_remul", "SweepResult"):
        from remul.tune import sweep

        return getattr(sweep, name)
    if name in ("compute_frontier", "hypervolume_2d", "pareto_mask"):
        from remul.tune import frontier

        return getattr(frontier, name)
    if name == "validate_sweep":
        from remul.tune.space import validate_sweep

        return validate_sweep
    raise AttributeError(f"module 'remul.tune' has no attribute {name!r}")


__all__ = ["SweepResult", "compute_frontier", "hypervolume_2d", "pareto_mask", "tune_remul",
           "validate_sweep"]
