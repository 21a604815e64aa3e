"""Step time and inference latency of GNN, EGNN, Transformer and MLP on mocap_walk and one MD17
molecule, each trained plainly (task loss only) and with REMUL (task + equivariance loss).

    python bench/bench_models.py [--device cpu|cuda] [--threads 1] [--repeats 20]

Writes ``bench/results/models.json`` and prints a table. Ratios: ``remul/plain`` is the cost of
the REMUL loss per optimiser step (one transformed copy per sample doubles the forward/backward
batch); ``vs_egnn`` compares each model with the equivariant baseline. Inference is the same
network with or without REMUL (REMUL only changes training), so it is measured once.

Data: mocap_walk is the real dataset when it can be loaded (``remul data --from
../shared/data``); otherwise, and always for MD17 when its trajectory is not available,
synthetic tensors of the same shapes and the same kind of graph are used and the JSON says so.
Timings depend on the data's shapes only, not its values.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remul.actions import GroupAction, index_batch  # noqa: E402
from remul.groups import make_group  # noqa: E402
from remul.losses import remul_losses  # noqa: E402
from remul.models import build_model  # noqa: E402
from remul.tasks import get_task  # noqa: E402
from remul.tasks.base import TaskSpec  # noqa: E402

MODELS = {
    "gnn": {"name": "gnn", "layers": 4, "hidden": 64},
    "egnn": {"name": "egnn", "layers": 4, "hidden": 64},
    "transformer": {"name": "transformer"},  # library defaults
    "mlp": {"name": "mlp"},
}


def synthetic_molecule(n_heavy: int = 13, seed: int = 0):
    """A zig-zag heavy-atom chain with 1.45 A bonds and random dihedrals (aspirin has 13 heavy
    atoms), for shapes and graph size only."""
    from remul.data.md17 import molecular_graph

    rng = np.random.default_rng(seed)
    pos = [np.zeros(3), np.array([1.45, 0, 0])]
    while len(pos) < n_heavy:
        a, b = pos[-2], pos[-1]
        u = (b - a) / np.linalg.norm(b - a)
        w = rng.normal(size=3)
        w -= w.dot(u) * u
        w /= np.linalg.norm(w)
        pos.append(b + 1.45 * (0.5 * u + np.sqrt(3) / 2 * w))
    x0 = np.stack(pos)
    z = rng.choice([6, 6, 6, 8], size=n_heavy)
    ei, ea = molecular_graph(x0, z)
    return x0, z, ei, ea


def md17_inputs(molecule: str, n: int):
    try:
        task = get_task(f"md17_{molecule}")
        splits = task.load({**task.data_defaults, "max_val": 10, "max_test": 10}, 0)
        return splits["train"], task.spec(splits), "real"
    except Exception as err:  # noqa: BLE001 - any failure: fall back to synthetic shapes
        from remul.tasks.md17 import one_hot_types

        x0, z, ei, ea = synthetic_molecule()
        g = torch.Generator().manual_seed(0)
        x = torch.as_tensor(x0, dtype=torch.float32) + 0.05 * torch.randn(n, len(z), 3,
                                                                           generator=g)
        h = one_hot_types(z).expand(n, -1, -1).contiguous()
        batch = {"x": x, "v": 0.01 * torch.randn(n, len(z), 3, generator=g), "h": h,
                 "y": x + 0.1 * torch.randn(n, len(z), 3, generator=g)}
        spec = TaskSpec(len(z), 3, torch.as_tensor(ei), torch.as_tensor(ea, dtype=torch.float32))
        return batch, spec, f"synthetic ({type(err).__name__}: real trajectory not available)"


def mocap_inputs(n: int):
    try:
        task = get_task("mocap_walk")
        splits = task.load(task.data_defaults, 0)
        return splits["train"], task.spec(splits), "real"
    except Exception as err:  # noqa: BLE001
        from remul.data.mocap import skeleton_graph
        from remul.tasks.mocap import CMU_EDGES, N_JOINTS

        g = torch.Generator().manual_seed(0)
        x = 10 * torch.randn(n, N_JOINTS, 3, generator=g)
        v = torch.randn(n, N_JOINTS, 3, generator=g)
        batch = {"x": x, "v": v, "h": torch.cat([torch.ones(n, N_JOINTS, 1),
                                                 v.norm(dim=-1, keepdim=True)], -1),
                 "y": x + 30 * v}
        ei, hop = skeleton_graph(CMU_EDGES, N_JOINTS)
        spec = TaskSpec(N_JOINTS, 2, torch.as_tensor(ei), torch.as_tensor(hop).float())
        return batch, spec, f"synthetic ({type(err).__name__})"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn, device, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def bench_one(cfg, batch, spec, device, repeats, infer_batch):
    torch.manual_seed(0)
    model = build_model(cfg, spec).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    action, sampler = GroupAction(), make_group({"name": "so3"})
    gen = torch.Generator(device=device).manual_seed(1)

    def step(need_equi):
        def f():
            l_task, l_equi = remul_losses(model, batch, action, sampler, 1, "mse",
                                          need_task=True, need_equi=need_equi, generator=gen)
            loss = l_task + l_equi
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return f

    model.train()
    plain = time_fn(step(False), device, repeats)
    remul = time_fn(step(True), device, repeats)
    model.eval()
    inputs = {k: t for k, t in infer_batch.items() if k != "y"}

    def infer():
        with torch.no_grad():
            model(inputs)

    inf = time_fn(infer, device, repeats)
    return {"n_params": sum(p.numel() for p in model.parameters()), "step_ms_plain": plain,
            "step_ms_remul": remul, "remul_over_plain": remul / plain, "infer_ms": inf}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--molecule", default="aspirin")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "models.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    setups = {
        # task: (train batch, inference batch) as in the paper's appendix: mocap batch 12,
        # MD17 batch 200; inference on the same batch sizes.
        "mocap_walk": (12, mocap_inputs(200)),
        f"md17_{args.molecule}": (200, md17_inputs(args.molecule, 500)),
    }
    results = {"device": str(device), "threads": args.threads, "torch": torch.__version__,
               "machine": platform.processor() or platform.machine(), "repeats": args.repeats,
               "tasks": {}}
    for task, (bs, (data, spec, source)) in setups.items():
        batch = {k: t.to(device) for k, t in index_batch(data, slice(0, bs)).items()}
        res = {"data": source, "batch_size": bs, "n_nodes": spec.n_nodes,
               "n_edges": int(spec.edge_index.shape[1]), "models": {}}
        for name, cfg in MODELS.items():
            res["models"][name] = bench_one(cfg, batch, spec, device, args.repeats, batch)
        eg = res["models"]["egnn"]
        for r in res["models"].values():
            r["step_plain_vs_egnn"] = r["step_ms_plain"] / eg["step_ms_plain"]
            r["step_remul_vs_egnn_plain"] = r["step_ms_remul"] / eg["step_ms_plain"]
            r["infer_vs_egnn"] = r["infer_ms"] / eg["infer_ms"]
        results["tasks"][task] = res

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    hdr = (f"{'task':18s} {'model':12s} {'params':>8s} {'step plain':>11s} {'step REMUL':>11s} "
           f"{'REMUL/plain':>11s} {'infer':>9s} {'infer/EGNN':>10s} {'REMUL step/EGNN':>15s}")
    print(f"device={device} threads={args.threads} torch={torch.__version__}")
    print(hdr)
    for task, res in results["tasks"].items():
        for name, r in res["models"].items():
            print(f"{task:18s} {name:12s} {r['n_params']:8d} {r['step_ms_plain']:9.2f}ms "
                  f"{r['step_ms_remul']:9.2f}ms {r['remul_over_plain']:11.2f} "
                  f"{r['infer_ms']:7.2f}ms {r['infer_vs_egnn']:10.2f} "
                  f"{r['step_remul_vs_egnn_plain']:15.2f}")
        print(f"  ({task}: data {res['data']}, batch {res['batch_size']}, "
              f"{res['n_nodes']} nodes, {res['n_edges']} edges)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
