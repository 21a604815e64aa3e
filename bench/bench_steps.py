"""Step time of the weighting modes, and the cost of E/E', as ratios measured in one run.

    python bench/bench_steps.py [--steps 30] [--repeats 5] [--out bench/results/steps.json]

For the Transformer and the MLP on N-body: the median step time of each mode (none,
augmentation, constant, gradnorm), as a ratio to ``none``; modes are interleaved round-robin so
that drift in machine load hits them alike. Then E and E' at M = 100, batched, against a
per-sample loop (one forward pass per sample and group element). Targets (issue 2): constant
<= 2.0x none, gradnorm <= 1.15x constant, batched metrics >= 10x faster than the loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from remul.actions import index_batch, inputs_of
from remul.config import resolve_config
from remul.groups import make_group
from remul.losses import remul_losses
from remul.metrics import equivariance_errors
from remul.models import build_model
from remul.tasks import get_task
from remul.weighting import make_weighting

MODES = ("none", "augmentation", "constant", "gradnorm")
MODELS = {
    "transformer": {"name": "transformer"},  # GATr baseline defaults: 10 blocks, 384, 8 heads
    "mlp": {"name": "mlp"},
}


def make_stepper(task, splits, model_cfg, mode, batch_size, device):
    cfg = resolve_config(task, {"mode": mode, "model": model_cfg, "batch_size": batch_size})
    torch.manual_seed(0)
    model = build_model(cfg["model"], task.spec(splits)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    weighting = make_weighting(cfg)
    sampler = make_group(cfg["train_group"])
    batch = {k: v.to(device) for k, v in index_batch(splits["train"], slice(0, batch_size)).items()}
    gen = torch.Generator(device=device).manual_seed(0)

    def step():
        lt, le = remul_losses(model, batch, task.action, sampler, 1,
                              need_task=weighting.need_task, need_equi=weighting.need_equi,
                              generator=gen)
        loss = weighting.total(lt, le, model.last_layer_weight())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step, model


def time_steps(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def bench_modes(task, splits, device, steps, repeats, batch_size):
    out = {}
    for name, mcfg in MODELS.items():
        steppers = {m: make_stepper(task, splits, mcfg, m, batch_size, device)[0] for m in MODES}
        for s in steppers.values():  # warm-up
            time_steps(s, 3)
        samples = {m: [] for m in MODES}
        for _ in range(repeats):
            for m in MODES:
                samples[m].append(time_steps(steppers[m], steps))
        med = {m: statistics.median(v) for m, v in samples.items()}
        out[name] = {
            "step_ms": {m: 1e3 * t for m, t in med.items()},
            "ratio_to_none": {m: med[m] / med["none"] for m in MODES},
            "gradnorm_over_constant": med["gradnorm"] / med["constant"],
        }
    return out


def bench_metrics(task, splits, device, n_samples, M):
    model = build_model({"name": "transformer"}, task.spec(splits)).to(device).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    x = {k: v.to(device) for k, v in inputs_of(index_batch(splits["test"], slice(0, n_samples)),
                                                  "y").items()}
    act, sampler = task.action, make_group("so3")

    def batched():
        gen = torch.Generator(device=device).manual_seed(0)
        return equivariance_errors(model, x, act.act_in, act.act_out, sampler, M=M, generator=gen)

    @torch.no_grad()
    def loop():  # the naive reference: one forward per (sample, group element)
        gen = torch.Generator(device=device).manual_seed(0)
        g = sampler(M * n_samples, generator=gen, device=device).view(M, n_samples, 3, 3)
        e, ep = 0.0, 0.0
        for b in range(n_samples):
            xb = index_batch(x, slice(b, b + 1))
            fx = model(xb)
            s_f, s_g, s_n = 0, 0, 0.0
            for m in range(M):
                gm = g[m, b : b + 1]
                fgx = model(act.act_in(gm, xb))
                gfx = act.act_out(gm, fx)
                s_f, s_g = s_f + fgx, s_g + gfx
                s_n += float((fgx - gfx).norm())
            e += float(((s_f - s_g) / M).norm()) / n_samples
            ep += s_n / M / n_samples
        return {"E": e, "E_prime": ep}

    batched()
    t0 = time.perf_counter()
    rb = batched()
    tb = time.perf_counter() - t0
    t0 = time.perf_counter()
    rl = loop()
    tl = time.perf_counter() - t0
    return {"n_samples": n_samples, "M": M, "batched_s": tb, "loop_s": tl,
            "speedup": tl / tb, "E_batched": rb["E"], "E_loop": rl["E"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--metric-samples", type=int, default=20)
    p.add_argument("--M", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="bench/results/steps.json")
    a = p.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if a.device == "auto" else a.device)
    task = get_task("nbody")
    splits = task.load(dict(task.data_defaults, n_train=256, n_val=16, n_test=256, n_ood=16))
    res = {
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "batch_size": a.batch_size,
        "modes": bench_modes(task, splits, device, a.steps, a.repeats, a.batch_size),
        "metrics": bench_metrics(task, splits, device, a.metric_samples, a.M),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2))
    print(f"device={res['device']} batch={a.batch_size} (step time, ratio to none)")
    print(f"{'model':<12}" + "".join(f"{m:>22}" for m in MODES) + f"{'gradnorm/constant':>20}")
    for name, r in res["modes"].items():
        cells = "".join(
            f"{r['step_ms'][m]:>12.2f} ms {r['ratio_to_none'][m]:>5.2f}x" for m in MODES
        )
        print(f"{name:<12}{cells}{r['gradnorm_over_constant']:>19.3f}x")
    m = res["metrics"]
    print(f"E/E' at M={m['M']} on {m['n_samples']} samples: batched {m['batched_s']:.3f} s, "
          f"per-sample loop {m['loop_s']:.2f} s, speed-up {m['speedup']:.1f}x "
          f"(E {m['E_batched']:.5f} vs {m['E_loop']:.5f})")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
