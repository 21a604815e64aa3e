"""CMU motion capture, the GMN / EGNO / REMUL protocol: ``mocap_walk`` (subject 35, from the raw
ASF/AMC files by forward kinematics) and ``mocap_run`` (subject 9, the GMN/EGNO pickle).

Per sample: the 31 joints' positions ``x`` and velocities ``v = X[s+1] - X[s]`` at a start frame
``s`` from the standard split files, target ``y`` = positions ``delta_t = 30`` frames later;
``h`` = [1, |v_i|] (invariant). Splits: walk 198/600/600, run 200/240/240. Graph: the skeleton's
30 bones plus 2-hop edges, edge attribute = hop count (1 or 2).

Group: SO(3) for the REMUL loss and the metrics by default. Human motion is not symmetric about
every axis (gravity picks "up", which is +y in CMU data); for rotations about the vertical only
set ``train_group`` / ``eval_group`` to ``{"name": "so2", "axis": [0, 1, 0]}``.

Data: read from the cache (``remul data mocap_walk``); when it is not there it is fetched from a
local folder, ``data.source_dir``, ``$REMUL_SOURCE_DIR`` or ``<repo>/../shared/data``.
"""

from __future__ import annotations

import numpy as np
import torch

from remul.data.fetch import ensure_dataset
from remul.data.mocap import VERTICAL_AXIS, mocap_protocol, skeleton_graph
from remul.tasks import register_task
from remul.tasks.base import Splits, Task, TaskSpec

N_JOINTS = 31
# The CMU 31-joint skeleton as [child, parent] (joints in depth-first ASF order, root 0); the
# same for subjects 9 and 35 and checked against the data on load.
CMU_EDGES = [
    [1, 0], [2, 1], [3, 2], [4, 3], [5, 4], [6, 0], [7, 6], [8, 7], [9, 8], [10, 9], [11, 0],
    [12, 11], [13, 12], [14, 13], [15, 14], [16, 15], [17, 13], [18, 17], [19, 18], [20, 19],
    [21, 20], [22, 21], [23, 20], [24, 13], [25, 24], [26, 25], [27, 26], [28, 27], [29, 28],
    [30, 27],
]  # fmt: skip
SO2_VERTICAL = {"name": "so2", "axis": list(VERTICAL_AXIS)}


def _batch(x: np.ndarray, v: np.ndarray, y: np.ndarray) -> dict[str, torch.Tensor]:
    xt = torch.as_tensor(x, dtype=torch.float32)
    vt = torch.as_tensor(v, dtype=torch.float32)
    h = torch.cat([torch.ones_like(vt[..., :1]), vt.norm(dim=-1, keepdim=True)], dim=-1)
    return {"x": xt, "v": vt, "h": h, "y": torch.as_tensor(y, dtype=torch.float32)}


class MocapTask(Task):
    def __init__(self, case: str):
        super().__init__(
            name=f"mocap_{case}",
            train_group={"name": "so3"},
            eval_group={"name": "so3"},
            data_defaults={
                "delta_t": 30,
                "max_train": 200,
                "max_val": 600,
                "max_test": 600,
                "source_dir": None,
            },
            config_defaults={"model": {"name": "transformer"}, "batch_size": 12, "lr": 3e-4},
        )
        self.case = case

    def load(self, data: dict, seed: int = 0) -> Splits:
        data = {**self.data_defaults, **(data or {})}
        for k in ("delta_t", "max_train", "max_val", "max_test"):
            if not isinstance(data[k], int) or isinstance(data[k], bool) or data[k] < 1:
                raise ValueError(f"data.{k}: must be an integer >= 1, got {data[k]!r}")
        root = ensure_dataset(self.name, source_dir=data["source_dir"])
        d = mocap_protocol(
            self.case,
            root,
            delta_t=data["delta_t"],
            max_samples={s: data[f"max_{s}"] for s in ("train", "val", "test")},
            processed_dir=root / "processed",
        )
        if d["n_joints"] != N_JOINTS or sorted(map(list, d["edges"])) != sorted(CMU_EDGES):
            raise ValueError(f"{self.name}: the data's skeleton is not the CMU 31-joint one")
        return {s: _batch(*d[s]) for s in ("train", "val", "test")}

    def spec(self, splits: Splits) -> TaskSpec:
        ei, hop = skeleton_graph(CMU_EDGES, N_JOINTS)
        return TaskSpec(
            n_nodes=N_JOINTS,
            node_feature_dim=splits["train"]["h"].shape[-1],
            edge_index=torch.as_tensor(ei),
            edge_attr=torch.as_tensor(hop, dtype=torch.float32),
        )


register_task("mocap_walk", lambda: MocapTask("walk"))
register_task("mocap_run", lambda: MocapTask("run"))
