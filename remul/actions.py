"""How a rotation g acts on a task's inputs and outputs.

A batch is a ``dict[str, Tensor]`` whose tensors share the leading batch dimension B and the
node dimension N. Vector channels (positions, velocities: (B, N, 3)) are rotated, scalar channels
(masses, atom types: (B, N, F)) are left alone. Translations are handled by the models, which
centre the positions on the (mass-weighted) centre of mass and shift their outputs back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

Batch = dict[str, torch.Tensor]


def rotate_vectors(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Apply g (B, 3, 3) to row vectors v (B, N, 3) -> (B, N, 3), i.e. v_i <- g v_i."""
    return torch.einsum("bij,bnj->bni", g, v)


@dataclass(frozen=True)
class GroupAction:
    """Which channels of a batch are vectors.

    Attributes:
        vector_keys: input keys holding (B, N, 3) vectors that rotate with g.
        target_key: key of the (B, N, 3) vector target (rotates with g).
    """

    vector_keys: Sequence[str] = ("x", "v")
    target_key: str = "y"

    def act_in(self, g: torch.Tensor, batch: Batch) -> Batch:
        """g . x for every vector channel; scalar channels and the target are copied as is."""
        out = dict(batch)
        for k in self.vector_keys:
            if k in out:
                out[k] = rotate_vectors(g.to(out[k].dtype), out[k])
        return out

    def act_out(self, g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """g . y for a (B, N, 3) output."""
        return rotate_vectors(g.to(y.dtype), y)

    def act_batch(self, g: torch.Tensor, batch: Batch) -> Batch:
        """Transform inputs and target together: (g . x, g . y)."""
        out = self.act_in(g, batch)
        if self.target_key in out:
            out[self.target_key] = self.act_out(g, out[self.target_key])
        return out


def inputs_of(batch: Batch, target_key: str = "y") -> Batch:
    """The batch without its target."""
    return {k: v for k, v in batch.items() if k != target_key}


def repeat_batch(batch: Batch, k: int) -> Batch:
    """Stack k copies along the batch dimension: (B, ...) -> (k*B, ...), copy-major."""
    return {key: t.repeat(k, *([1] * (t.dim() - 1))) for key, t in batch.items()}


def concat_batches(batches: Sequence[Batch]) -> Batch:
    """Concatenate batches with identical keys along the batch dimension."""
    keys = batches[0].keys()
    return {k: torch.cat([b[k] for b in batches], dim=0) for k in keys}


def index_batch(batch: Batch, idx) -> Batch:
    """Select samples idx (slice or index tensor) from every tensor of the batch."""
    return {k: t[idx] for k, t in batch.items()}


def batch_size(batch: Batch) -> int:
    return next(iter(batch.values())).shape[0]


def centre_of_mass(x: torch.Tensor, mass: torch.Tensor | None = None) -> torch.Tensor:
    """Centre of mass (B, 1, 3) of positions x (B, N, 3), weights mass (B, N) or uniform."""
    if mass is None:
        return x.mean(dim=1, keepdim=True)
    w = mass / mass.sum(dim=1, keepdim=True)
    return (w[..., None] * x).sum(dim=1, keepdim=True)
