"""MD17 molecular dynamics, the GMN / EGNO / REMUL protocol: ``md17_<molecule>`` for aspirin,
benzene_old, ethanol, malonaldehyde, naphthalene, salicylic, toluene, uracil.

Heavy atoms only (z > 1). Per sample: positions ``x`` and velocities ``v = R[s+1] - R[s]`` at a
start frame ``s`` from the standard split file, target ``y`` = positions ``delta_t = 5000``
frames later; ``h`` = one-hot atom type (C, N, O). Splits: the first 500 / 2000 / 2000 start
frames of the split file's train / val / test. Graph: atom pairs closer than 1.6 Angstrom in
the trajectory's first frame plus 2-hop edges; edge attributes ``[z_i, z_j, hop]``.

Data: the split files are fetched like the mocap files; the trajectories
(``md17_{molecule}.npz`` or ``{molecule}_dft.npz``, keys ``R``, ``z``) come from sgdml.org:
``remul data md17_aspirin`` downloads one, ``remul data --from DIR md17_aspirin`` copies it.
"""

from __future__ import annotations

import torch

from remul.data.fetch import ensure_dataset
from remul.data.md17 import HEAVY_TYPES, load_md17
from remul.data.registry import MD17_MOLECULES
from remul.tasks import register_task
from remul.tasks.base import Splits, Task, TaskSpec

# Graph per task name, so that spec() works for splits loaded elsewhere in this process.
_GRAPHS: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


class GraphSplits(dict):
    """The splits dict, carrying the molecule's graph as ``.graph`` (kept through pickling, e.g.
    when a sweep ships preloaded splits to its workers)."""

    graph: tuple[torch.Tensor, torch.Tensor] | None = None


def one_hot_types(z) -> torch.Tensor:
    z = torch.as_tensor(z, dtype=torch.long)
    types = torch.tensor(HEAVY_TYPES)
    oh = (z[:, None] == types[None, :]).to(torch.float32)
    if not bool((oh.sum(-1) == 1).all()):
        raise ValueError(f"atom types {sorted(set(z.tolist()))} outside {list(HEAVY_TYPES)}")
    return oh


class MD17Task(Task):
    def __init__(self, molecule: str):
        super().__init__(
            name=f"md17_{molecule}",
            train_group={"name": "so3"},
            eval_group={"name": "so3"},
            data_defaults={
                "delta_t": 5000,
                "max_train": 500,
                "max_val": 2000,
                "max_test": 2000,
                "source_dir": None,
            },
            config_defaults={
                "model": {"name": "gnn", "layers": 4, "hidden": 64},
                "batch_size": 200,
                "lr": 5e-4,
            },
        )
        self.molecule = molecule
        self._data = dict(self.data_defaults)

    def load(self, data: dict, seed: int = 0) -> Splits:
        data = {**self.data_defaults, **(data or {})}
        for k in ("delta_t", "max_train", "max_val", "max_test"):
            if not isinstance(data[k], int) or isinstance(data[k], bool) or data[k] < 1:
                raise ValueError(f"data.{k}: must be an integer >= 1, got {data[k]!r}")
        self._data = data
        root = ensure_dataset(self.name, source_dir=data["source_dir"])
        d = load_md17(
            self.molecule,
            root,
            delta_t=data["delta_t"],
            max_samples={s: data[f"max_{s}"] for s in ("train", "val", "test")},
        )
        h = one_hot_types(d["z"])
        graph = (
            torch.as_tensor(d["edge_index"]),
            torch.as_tensor(d["edge_attr"], dtype=torch.float32),
        )
        _GRAPHS[self.name] = graph
        out = GraphSplits()
        out.graph = graph
        for s in ("train", "val", "test"):
            x, v, y = (torch.as_tensor(a, dtype=torch.float32) for a in d[s])
            out[s] = {"x": x, "v": v, "h": h.expand(x.shape[0], -1, -1).contiguous(), "y": y}
        return out

    def spec(self, splits: Splits) -> TaskSpec:
        graph = getattr(splits, "graph", None) or _GRAPHS.get(self.name)
        if graph is None:  # plain-dict splits from another process: rebuild the graph
            self.load({**self._data, "max_train": 1, "max_val": 1, "max_test": 1})
            graph = _GRAPHS[self.name]
        ei, ea = graph
        h = splits["train"]["h"]
        return TaskSpec(n_nodes=h.shape[1], node_feature_dim=h.shape[2], edge_index=ei,
                        edge_attr=ea)


for _mol in MD17_MOLECULES:
    register_task(f"md17_{_mol}", lambda m=_mol: MD17Task(m))
