"""The task interface: data, group action and defaults. A task is one file under ``remul/tasks``.

A task loads its splits as batches (``dict[str, Tensor]``, see :mod:`remul.actions`) with keys

- ``x``: positions (S, N, 3); ``v``: velocities (S, N, 3); both rotate.
- ``h``: invariant node features (S, N, F) (masses, atom types, ...).
- ``mass``: optional (S, N) weights for the centre of mass (uniform when absent).
- ``y``: target positions (S, N, 3); rotates.

N is fixed per task, so a graph task has one ``edge_index`` shared by all samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from remul.actions import Batch, GroupAction

Splits = dict[str, Batch]


@dataclass
class TaskSpec:
    """What a model needs to know of a task.

    Attributes:
        n_nodes: N, nodes (bodies, joints, atoms) per sample.
        node_feature_dim: F, width of ``h``.
        edge_index: (2, E) long tensor of directed edges (src, dst) within one sample, or None.
        edge_attr: (E, F_e) invariant edge features, or None.
    """

    n_nodes: int
    node_feature_dim: int
    edge_index: torch.Tensor | None = None
    edge_attr: torch.Tensor | None = None


@dataclass
class Task:
    """Base class. Subclasses set the class attributes and implement :meth:`load`.

    Attributes:
        name: registry name.
        action: which channels are vectors.
        train_group: group spec for the REMUL loss and augmentation (see :mod:`remul.groups`).
        eval_group: group spec for the metrics E and E'.
        data_defaults: the allowed keys of ``config["data"]`` with their defaults.
        config_defaults: training defaults of this task (model, lr, batch size, ...).
        eval_splits: splits on which task error is reported, besides ``val`` and ``test``.
    """

    name: str = "task"
    action: GroupAction = field(default_factory=GroupAction)
    train_group: dict = field(default_factory=lambda: {"name": "so3"})
    eval_group: dict = field(default_factory=lambda: {"name": "so3"})
    data_defaults: dict = field(default_factory=dict)
    config_defaults: dict = field(default_factory=dict)
    eval_splits: tuple[str, ...] = ()

    def load(self, data: dict, seed: int) -> Splits:
        """Return {"train", "val", "test", *eval_splits} batches (float32 CPU tensors)."""
        raise NotImplementedError

    def spec(self, splits: Splits) -> TaskSpec:
        """Model-facing description; the default reads N and F off the training split."""
        h = splits["train"]["h"]
        return TaskSpec(n_nodes=h.shape[1], node_feature_dim=h.shape[2])

    def baselines(self, splits: Splits) -> dict[str, float]:
        """Trivial-predictor errors on the test split, e.g. ``zero_motion_mse`` (x_final = x)."""
        test = splits["test"]
        return {"zero_motion_mse": float(((test["x"] - test["y"]) ** 2).mean())}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "data": dict(self.data_defaults)}
