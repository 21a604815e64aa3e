"""Sweep-service overhead and concurrency.

1. Overhead: N short N-body trials as a sweep (grid over beta, one trial at a time, 1 CPU each)
   against the same trainings run in-process one after another (``remul.train``, data preloaded).
   Reported as seconds per trial and as a ratio, with and without actor reuse, and split into a
   fixed cost per sweep and a marginal cost per trial (1-epoch sweeps of 2 and 10 trials).
   The sweep time includes everything the service does per trial: scheduling, per-epoch reports and
   checkpoints, MLflow child runs (SQLite), and the frontier artifacts at the end; Ray itself
   is started beforehand (its start-up is reported separately).
2. Concurrency: the same sweep with 2 concurrent 1-CPU trials against 1 at a time (throughput),
   for short epochs (~50 ms: the per-epoch report round trip dominates) and longer ones.

    python bench/bench_sweep.py [--trials 8] [--epochs 10] [--quick]

Writes ``bench/results/sweep.json`` and prints a table. Targets: overhead <= 1.5 s per trial
(or <= 5 % of a 60 s trial); concurrency >= 1.8x (needs 2 otherwise idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parent / "results" / "sweep.json"


def space(epochs: int, n_train: int, betas):
    from ray import tune

    return {
        "model": {"name": "mlp", "hidden": 64, "layers": 3},
        "data": {"n_train": n_train, "n_val": 200, "n_test": 200, "n_ood": 200},
        "epochs": epochs, "batch_size": 32, "metrics": {"M": 10, "n_samples": 50},
        "beta": tune.grid_search(list(betas)),
    }


def sequential(sp: dict) -> float:
    import torch

    from remul.config import resolve_config
    from remul.tasks import get_task
    from remul.train import train
    from remul.tune.space import validate_sweep

    torch.set_num_threads(1)
    spec = validate_sweep("nbody", sp, search="grid")
    task = get_task("nbody")
    base = resolve_config(task, spec.fixed)
    splits = task.load(base["data"], base["seed"])
    t0 = time.perf_counter()
    for c in spec.trial_configs():
        train(task, {**spec.fixed, **c, "device": "cpu"}, splits=splits)
    return time.perf_counter() - t0


def sweep(sp: dict, tmp: Path, name: str, *, reuse: bool, concurrent: int, **kw) -> float:
    from remul.tune import tune_remul

    t0 = time.perf_counter()
    tune_remul("nbody", sp, search="grid", max_concurrent_trials=concurrent,
               resources_per_trial={"cpu": 1}, reuse_actors=reuse,
               tracking_uri=f"sqlite:///{tmp / 'mlruns.db'}", storage_path=str(tmp / "ray"),
               experiment=name, verbose=0, quiet=True, **kw)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--conc-trials", type=int, default=4)
    p.add_argument("--conc-epochs", type=int, default=40)
    p.add_argument("--long-epochs", type=int, default=60)
    p.add_argument("--quick", action="store_true", help="4 trials of 5 epochs")
    args = p.parse_args(argv)
    if args.quick:
        args.trials, args.epochs, args.conc_trials, args.conc_epochs = 4, 5, 2, 20
        args.long_epochs = 4
    import ray

    from remul.tune.sweep import loopback_only

    os.environ.setdefault("REMUL_DATA_DIR", tempfile.mkdtemp(prefix="remul-bench-data-"))
    tmp = Path(tempfile.mkdtemp(prefix="remul-bench-sweep-"))
    betas = [10.0 ** (k - args.trials // 2) for k in range(args.trials)]
    sp = space(args.epochs, 512, betas)
    cbetas = [10.0 ** (k - 2) for k in range(args.conc_trials)]
    csp = space(args.conc_epochs, 1024, cbetas)

    seq = sequential(sp)  # also warms the data cache
    loopback_only()
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="WARNING", log_to_driver=False)
    ray_start = time.perf_counter() - t0
    try:
        reuse = sweep(sp, tmp, "bench-reuse", reuse=True, concurrent=1)
        noreuse = sweep(sp, tmp, "bench-noreuse", reuse=False, concurrent=1)
        cseq = sequential(csp)
        c1 = sweep(csp, tmp, "bench-c1", reuse=True, concurrent=1)
        c2 = sweep(csp, tmp, "bench-c2", reuse=True, concurrent=2)
        m2 = sweep(space(1, 256, [1.0, 2.0]), tmp, "bench-m2", reuse=True, concurrent=1)
        m10 = sweep(space(1, 256, [float(k + 1) for k in range(10)]), tmp, "bench-m10",
                    reuse=True, concurrent=1)
        lsp = space(args.long_epochs, 4096, cbetas)  # longer trials (~0.2 s epochs, ~12 s)
        lseq = sequential(lsp)
        l1 = sweep(lsp, tmp, "bench-l1", reuse=True, concurrent=1)
        l2 = sweep(lsp, tmp, "bench-l2", reuse=True, concurrent=2)
    finally:
        ray.shutdown()
    n = args.trials
    res = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared 2-core machine; other processes may compete"},
        "trials": n, "epochs": args.epochs,
        "ray_start_s": ray_start,
        "in_process_s": seq, "in_process_per_trial_s": seq / n,
        "sweep_reuse_s": reuse, "sweep_noreuse_s": noreuse,
        "overhead_per_trial_reuse_s": (reuse - seq) / n,
        "overhead_per_trial_noreuse_s": (noreuse - seq) / n,
        "ratio_reuse": reuse / seq, "ratio_noreuse": noreuse / seq,
        "overhead_share_of_60s_trial_reuse": max(0.0, (reuse - seq) / n) / 60.0,
        "one_epoch_sweeps": {"2_trials_s": m2, "10_trials_s": m10,
                             "marginal_per_trial_s": (m10 - m2) / 8,
                             "fixed_per_sweep_s": m2 - 2 * (m10 - m2) / 8},
        "concurrency": {"trials": args.conc_trials, "epochs": args.conc_epochs,
                        "in_process_s": cseq, "one_at_a_time_s": c1, "two_at_a_time_s": c2,
                        "speedup": c1 / c2, "speedup_vs_in_process": cseq / c2},
        "concurrency_long_epochs": {"trials": args.conc_trials, "epochs": args.long_epochs,
                                    "n_train": 4096, "in_process_s": lseq,
                                    "one_at_a_time_s": l1, "two_at_a_time_s": l2,
                                    "speedup": l1 / l2, "speedup_vs_in_process": lseq / l2},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    rows = [
        ("Ray start (once)", f"{ray_start:.2f} s"),
        (f"{n} trials in-process, sequential", f"{seq:.2f} s ({seq / n:.2f} s/trial)"),
        ("sweep, actor reuse", f"{reuse:.2f} s  overhead {(reuse - seq) / n:+.2f} s/trial, "
                               f"ratio {reuse / seq:.2f}"),
        ("sweep, no actor reuse", f"{noreuse:.2f} s  overhead {(noreuse - seq) / n:+.2f} "
                                  f"s/trial, ratio {noreuse / seq:.2f}"),
        ("1-epoch sweeps: 2 vs 10 trials", f"{m2:.2f} s vs {m10:.2f} s: "
                                            f"{(m10 - m2) / 8:.2f} s per extra trial, "
                                            f"{m2 - 2 * (m10 - m2) / 8:.2f} s fixed per sweep"),
        (f"{args.conc_trials} trials, 1 at a time", f"{c1:.2f} s (in-process {cseq:.2f} s)"),
        (f"{args.conc_trials} trials, 2 at a time", f"{c2:.2f} s  speedup {c1 / c2:.2f}x"),
        (f"{args.conc_trials} long-epoch trials, 1 at a time",
         f"{l1:.2f} s (in-process {lseq:.2f} s)"),
        (f"{args.conc_trials} long-epoch trials, 2 at a time",
         f"{l2:.2f} s  speedup {l1 / l2:.2f}x (vs in-process sequential {lseq / l2:.2f}x)"),
    ]
    w = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{w}}  {b}")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
