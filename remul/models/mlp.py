"""An MLP on the flattened input: [x, v, h] of all N nodes -> N displacements."""

from __future__ import annotations

import torch
from torch import nn

from remul.models import register_model
from remul.models.base import PointModel
from remul.tasks.base import TaskSpec


class MLP(PointModel):
    """(B, N*(6+F)) -> hidden x layers (GELU) -> (B, N*3)."""

    def __init__(self, spec: TaskSpec, hidden: int = 384, layers: int = 4):
        super().__init__()
        dims = [spec.n_nodes * (6 + spec.node_feature_dim)] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.GELU()]
        self.body = nn.Sequential(*mods)
        self.head = nn.Linear(dims[-1], spec.n_nodes * 3)
        nn.init.zeros_(self.head.weight)  # starts at "no motion"
        nn.init.zeros_(self.head.bias)

    def displacement(self, x, v, h):
        B, N, _ = x.shape
        flat = torch.cat([x, v, h], dim=-1).reshape(B, -1)
        return self.head(self.body(flat)).view(B, N, 3)


register_model("mlp", MLP, {"hidden": 384, "layers": 4})
