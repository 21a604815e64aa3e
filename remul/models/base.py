"""Base class of the models: centring on the centre of mass and shifting the output back.

Every model maps a batch (``x``, ``v``, ``h``, optional ``mass``; see :mod:`remul.tasks.base`) to
predicted positions (B, N, 3). Subclasses implement :meth:`displacement`, which sees positions
relative to the centre of mass, and expose their last linear layer as ``self.head`` (GradNorm
takes its gradient norms there). The prediction is ``x + displacement(x - com, v, h)``, so every
model is exactly translation-equivariant and only rotations need to be learned.
"""

from __future__ import annotations

import torch
from torch import nn

from remul.actions import Batch, centre_of_mass


class PointModel(nn.Module):
    head: nn.Linear

    def displacement(self, x: torch.Tensor, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x, v: (B, N, 3) centred positions and velocities; h: (B, N, F) -> (B, N, 3)."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> torch.Tensor:
        x = batch["x"]
        com = centre_of_mass(x, batch.get("mass"))
        return x + self.displacement(x - com, batch["v"], batch["h"])

    def last_layer_weight(self) -> torch.Tensor:
        """The weight on which GradNorm measures gradient norms."""
        return self.head.weight
