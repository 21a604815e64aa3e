"""EGNN with velocity (EGNN_vel, Satorras et al. 2021), the E(3)-equivariant baseline, on
torch-geometric.

Invariant node input ``[h, |v|]`` embedded to ``hidden``; per layer
``m_ij = phi_e([h_i, h_j, |x_i - x_j|^2, e_ij])``,
``x_i <- x_i + mean_j (x_i - x_j) phi_x(m_ij) + phi_v(h_i) v_i``,
``h_i <- h_i + phi_h([h_i, sum_j m_ij])``. The displacement is ``x_L - x_0``: rotating the
inputs rotates it, and the base class handles translations, so the model is exactly E(3)-
equivariant (up to floating point). ``self.head`` is the last layer's ``phi_x`` output layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from remul.models import register_model
from remul.models.base import PointModel
from remul.models.gnn import batch_graph, graph_of, mlp
from remul.tasks.base import TaskSpec


class EGCLVel(MessagePassing):
    def __init__(self, hidden: int, edge_dim: int):
        super().__init__(aggr="add")
        self.hidden = hidden
        self.edge_mlp = mlp([2 * hidden + 1 + edge_dim, hidden, hidden], last_act=True)
        self.node_mlp = mlp([2 * hidden, hidden, hidden])
        self.coord_mlp = mlp([hidden, hidden], last_act=True)
        self.coord_out = nn.Linear(hidden, 1, bias=False)
        nn.init.xavier_uniform_(self.coord_out.weight, gain=0.001)
        self.vel_mlp = mlp([hidden, hidden, 1])

    def forward(self, h, x, v, edge_index, edge_attr, inv_deg):
        n = h.shape[0]
        out = self.propagate(edge_index, h=h, x=x, edge_attr=edge_attr, size=(n, n))
        m, trans = out[:, : self.hidden], out[:, self.hidden :]
        x = x + trans * inv_deg + self.vel_mlp(h) * v
        h = h + self.node_mlp(torch.cat([h, m], dim=-1))
        return h, x

    def message(self, h_i, h_j, x_i, x_j, edge_attr):
        diff = x_i - x_j
        radial = (diff * diff).sum(-1, keepdim=True)
        m = self.edge_mlp(torch.cat([h_i, h_j, radial, edge_attr], dim=-1))
        return torch.cat([m, diff * self.coord_out(self.coord_mlp(m))], dim=-1)


class EGNN(PointModel):
    def __init__(self, spec: TaskSpec, layers: int = 4, hidden: int = 64):
        super().__init__()
        ei, ea = graph_of(spec)
        self.register_buffer("edge_index", ei, persistent=False)
        self.register_buffer("edge_attr", ea, persistent=False)
        self.embed = nn.Linear(spec.node_feature_dim + 1, hidden)
        self.layers = nn.ModuleList(EGCLVel(hidden, ea.shape[1]) for _ in range(layers))
        self.head = self.layers[-1].coord_out

    def displacement(self, x, v, h):
        B, N, _ = x.shape
        ei, ea = batch_graph(self.edge_index, self.edge_attr.to(x.dtype), B, N)
        xs, vs = x.reshape(B * N, 3), v.reshape(B * N, 3)
        speed = vs.norm(dim=-1, keepdim=True)
        z = self.embed(torch.cat([h.to(x.dtype).reshape(B * N, -1), speed], dim=-1))
        deg = scatter(torch.ones_like(ei[1], dtype=x.dtype), ei[1], dim=0, dim_size=B * N,
                      reduce="sum")
        inv_deg = (1.0 / deg.clamp(min=1.0))[:, None]
        y = xs
        for layer in self.layers:
            z, y = layer(z, y, vs, ei, ea, inv_deg)
        return (y - xs).view(B, N, 3)


register_model("egnn", EGNN, {"layers": 4, "hidden": 64})
