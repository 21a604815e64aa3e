"""The baseline Transformer GATr compares against: one token per node, no positional encoding,
pre-norm blocks (attention, then a GELU MLP of 2x width), a linear decoder to a 3-vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from remul.models import register_model
from remul.models.base import PointModel
from remul.tasks.base import TaskSpec


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        if hidden % heads:
            raise ValueError(
                f"model.hidden: must be divisible by model.heads={heads}, got {hidden}"
            )
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        B, N, C = t.shape
        q, k, v = self.qkv(self.norm1(t)).view(B, N, 3, self.heads, C // self.heads).unbind(2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        t = t + self.proj(a.transpose(1, 2).reshape(B, N, C))
        return t + self.mlp(self.norm2(t))


class Transformer(PointModel):
    """Tokens [x, v, h] (B, N, 6 + F) -> displacement (B, N, 3)."""

    def __init__(self, spec: TaskSpec, hidden: int = 384, blocks: int = 10, heads: int = 8):
        super().__init__()
        self.embed = nn.Linear(6 + spec.node_feature_dim, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads) for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 3)
        nn.init.zeros_(self.head.weight)  # starts at "no motion"
        nn.init.zeros_(self.head.bias)

    def displacement(self, x, v, h):
        t = self.embed(torch.cat([x, v, h], dim=-1))
        for block in self.blocks:
            t = block(t)
        return self.head(self.norm(t))


register_model("transformer", Transformer, {"hidden": 384, "blocks": 10, "heads": 8})
