"""GNN: the non-equivariant message-passing baseline of Satorras et al. (2021), on
torch-geometric.

Node input ``[x, v, h]`` (positions and velocities as raw coordinates, so the model is *not*
equivariant), embedded to ``hidden``; ``layers`` rounds of
``m_ij = phi_e([h_i, h_j, e_ij])``, ``h_i <- h_i + phi_h([h_i, sum_j m_ij])``; a decoder MLP to a
3-vector per node (the displacement). Edges are the task's ``edge_index``/``edge_attr`` (see
:class:`remul.tasks.base.TaskSpec`), or the complete graph when the task has none.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from remul.models import register_model
from remul.models.base import PointModel
from remul.tasks.base import TaskSpec


def complete_graph(n: int) -> torch.Tensor:
    """All directed pairs i != j: (2, n(n-1))."""
    idx = torch.arange(n)
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    mask = src != dst
    return torch.stack([src[mask], dst[mask]])


def graph_of(spec: TaskSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(edge_index (2, E) long, edge_attr (E, F_e) float) of one sample; complete if none."""
    if spec.edge_index is None:
        ei = complete_graph(spec.n_nodes)
        return ei, torch.zeros(ei.shape[1], 0)
    ei = torch.as_tensor(spec.edge_index, dtype=torch.long).reshape(2, -1)
    if spec.edge_attr is None:
        ea = torch.zeros(ei.shape[1], 0)
    else:
        ea = torch.as_tensor(spec.edge_attr, dtype=torch.get_default_dtype())
        ea = ea.reshape(ei.shape[1], -1)
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= spec.n_nodes):
        raise ValueError(f"edge_index: node ids must be in [0, {spec.n_nodes}), got "
                         f"[{int(ei.min())}, {int(ei.max())}]")
    return ei, ea


def batch_graph(
    edge_index: torch.Tensor, edge_attr: torch.Tensor, B: int, N: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint union of B copies: node ids offset by N per sample."""
    E = edge_index.shape[1]
    offs = torch.arange(B, device=edge_index.device) * N
    ei = (edge_index[:, None, :] + offs[None, :, None]).reshape(2, B * E)
    ea = edge_attr.repeat(B, 1)
    return ei, ea


def mlp(dims: list[int], last_act: bool = False) -> nn.Sequential:
    mods: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        mods.append(nn.Linear(a, b))
        if k < len(dims) - 2 or last_act:
            mods.append(nn.SiLU())
    return nn.Sequential(*mods)


class GCL(MessagePassing):
    """One graph convolution layer: edge MLP on [h_i, h_j, e_ij], sum, node MLP, residual."""

    def __init__(self, hidden: int, edge_dim: int):
        super().__init__(aggr="add")
        self.edge_mlp = mlp([2 * hidden + edge_dim, hidden, hidden], last_act=True)
        self.node_mlp = mlp([2 * hidden, hidden, hidden])

    def forward(self, h, edge_index, edge_attr):
        agg = self.propagate(edge_index, h=h, edge_attr=edge_attr, size=(h.shape[0], h.shape[0]))
        return h + self.node_mlp(torch.cat([h, agg], dim=-1))

    def message(self, h_i, h_j, edge_attr):
        return self.edge_mlp(torch.cat([h_i, h_j, edge_attr], dim=-1))


class GNN(PointModel):
    def __init__(self, spec: TaskSpec, layers: int = 4, hidden: int = 64):
        super().__init__()
        ei, ea = graph_of(spec)
        self.register_buffer("edge_index", ei, persistent=False)
        self.register_buffer("edge_attr", ea, persistent=False)
        self.embed = nn.Linear(6 + spec.node_feature_dim, hidden)
        self.layers = nn.ModuleList(GCL(hidden, ea.shape[1]) for _ in range(layers))
        self.decoder = mlp([hidden, hidden], last_act=True)
        self.head = nn.Linear(hidden, 3)
        nn.init.zeros_(self.head.weight)  # starts at "no motion"
        nn.init.zeros_(self.head.bias)

    def displacement(self, x, v, h):
        B, N, _ = x.shape
        ei, ea = batch_graph(self.edge_index, self.edge_attr.to(x.dtype), B, N)
        z = self.embed(torch.cat([x, v, h.to(x.dtype)], dim=-1).reshape(B * N, -1))
        for layer in self.layers:
            z = layer(z, ei, ea)
        return self.head(self.decoder(z)).view(B, N, 3)


register_model("gnn", GNN, {"layers": 4, "hidden": 64})
