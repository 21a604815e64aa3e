"""Task registry: ``get_task(name)`` builds a registered task."""

from __future__ import annotations

from collections.abc import Callable

from remul.tasks.base import Splits, Task, TaskSpec

_REGISTRY: dict[str, Callable[[], Task]] = {}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Register ``factory`` (a zero-argument callable returning a Task) under ``name``."""
    _REGISTRY[name] = factory


def _load_builtin() -> None:
    # Importing a task module registers it. Optional tasks may be missing their data deps.
    import remul.tasks.nbody  # noqa: F401

    for mod in ("remul.tasks.mocap", "remul.tasks.md17"):
        try:
            __import__(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise


def task_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """The task registered as ``name``; an unknown name raises naming the allowed values."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"task: unknown task {name!r}; allowed: {sorted(_REGISTRY)}")
    return _REGISTRY[name]()


__all__ = ["Splits", "Task", "TaskSpec", "get_task", "register_task", "task_names"]
