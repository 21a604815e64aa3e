"""Shared command line of the ``sweeps/*.py`` scripts.

Every script runs as ``python sweeps/X.py [--smoke]`` on one machine and under
``ray submit cluster/gpu.yaml sweeps/X.py --address auto`` on a cluster:

- Ray: ``--address`` (default ``$RAY_ADDRESS``; ``auto`` joins the cluster this machine is part
  of, e.g. on the head node under ``ray submit``); without one, a local instance bound to
  127.0.0.1 is started (``--num-cpus``).
- MLflow: ``--tracking-uri`` (default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///./mlruns.db``).
- ``--gpus-per-trial`` may be fractional (0.25: four trials share a GPU); a trial given a GPU
  uses CUDA when the node has it, otherwise the CPU (logical GPUs of a simulated cluster).
- ``--smoke``: a tiny budget (tiny data and model, 2 epochs, 4 trials) for tests.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

SMOKE = {
    "model": {"name": "mlp", "hidden": 32, "layers": 2},
    "epochs": 2,
    "batch_size": 32,
    "metrics": {"M": 8, "n_samples": 16},
}
#: the N-body data of the full (non-smoke) sweeps: 1000 training samples, smaller eval sets
NBODY_DATA = {"n_train": 1000, "n_val": 500, "n_test": 1000, "n_ood": 1000}
SMOKE_DATA = {
    "nbody": {"n_train": 64, "n_val": 64, "n_test": 64, "n_ood": 64},
    "mocap": {"max_train": 64, "max_val": 64, "max_test": 64},
    "md17": {"max_train": 64, "max_val": 64, "max_test": 64},
}


def parser(description: str, task: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    if task is not None:
        p.add_argument("--task", default=task, help=f"task (default {task})")
    p.add_argument("--smoke", action="store_true", help="tiny budget, for tests")
    p.add_argument("--num-samples", type=int, help="trials (optuna/random) or grid repeats")
    p.add_argument("--epochs", type=int, help="override the epochs per trial")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="fractional allowed, e.g. 0.5")
    p.add_argument("--max-concurrent", type=int, help="cap on concurrent trials")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default $RAY_ADDRESS; 'auto' under ray submit)")
    p.add_argument("--num-cpus", type=int, help="CPUs of a local Ray instance")
    p.add_argument("--storage-path", default=os.environ.get("REMUL_STORAGE_PATH") or None,
                   help="Ray Tune results/checkpoints, a directory (on a cluster: a shared "
                   "filesystem mounted at the same path on every node; s3:// URIs are not "
                   "supported yet) (default $REMUL_STORAGE_PATH when set, else ./ray_results)")
    p.add_argument("--tracking-uri", help="MLflow store (default $MLFLOW_TRACKING_URI or "
                   "sqlite:///./mlruns.db)")
    p.add_argument("--experiment", help="MLflow experiment name")
    p.add_argument("--resume", action="store_true", help="finish the last interrupted sweep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=1, help="Ray Tune verbosity 0-3")
    return p


def missing_task(task: str) -> str | None:
    """A message naming what is missing when ``task`` is not available, else None."""
    from remul.tasks import task_names

    try:
        names = task_names()
    except Exception as err:  # noqa: BLE001 - a task module failing to import
        return f"task {task!r}: the task modules failed to import: {err}"
    if task in names:
        return None
    family = task.split("_", 1)[0]
    if any(n.startswith(family + "_") for n in names):
        return f"task {task!r}: unknown task; available: {names}"
    hint = {
        "mocap": "remul.tasks.mocap (CMU motion capture loaders, remul.data)",
        "md17": "remul.tasks.md17 (MD17 npz loaders, remul.data)",
    }.get(family, f"a task registered as {task!r}")
    return (f"task {task!r} is not available: it needs {hint}, which is not installed in this "
            f"tree yet. Available tasks: {names}")


def run(args, task: str, space: dict, **options) -> int:
    """Apply the common flags and run :func:`remul.tune_remul`; return an exit code."""
    msg = missing_task(task)
    if msg:
        print(f"{os.path.basename(sys.argv[0])}: {msg}", file=sys.stderr)
        return 3
    if args.epochs is not None:
        space = dict(space, epochs=args.epochs)
    from remul.tune.sweep import tune_remul

    options.setdefault("num_samples", args.num_samples)
    options.setdefault("experiment", args.experiment)
    num_cpus = args.num_cpus
    if args.smoke and num_cpus is None:
        num_cpus = 2
    try:
        tune_remul(
            task, space,
            resources_per_trial={"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial},
            max_concurrent_trials=args.max_concurrent,
            tracking_uri=args.tracking_uri, storage_path=args.storage_path,
            resume=args.resume, seed=args.seed, address=args.address, num_cpus=num_cpus,
            verbose=args.verbose, **options,
        )
    except ValueError as err:
        print(f"{os.path.basename(sys.argv[0])}: error: {err}", file=sys.stderr)
        return 2
    return 0


def task_space(args, space: dict) -> dict:
    """``space`` for ``args.task``: the N-body sweep data when the task is nbody, and the smoke
    budget under ``--smoke``."""
    space = dict(space)
    if args.task == "nbody":
        space.setdefault("data", dict(NBODY_DATA))
    return smoke_space(args.task, space) if args.smoke else space


def smoke_space(task: str, space: dict) -> dict:
    """``space`` with the smoke budget applied (tiny model, data, epochs, metrics)."""
    from remul.tune.space import deep_merge

    out = deep_merge({k: v for k, v in space.items() if k != "model"}, SMOKE)
    data = SMOKE_DATA.get(task) or SMOKE_DATA.get(task.split("_", 1)[0])
    if data:
        out = deep_merge(out, {"data": data})
    return out


#: the paper's beta grid for the REMUL (constant) trials of a beta sweep
BETAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]


def beta_sweep(doc: str, default_task: str, fixed: dict, argv=None,
               smoke_betas=(0.01, 1.0)) -> int:
    """A grid over beta (REMUL, constant weighting), plus augmentation and a plain model.

    ``fixed`` holds the training keys of the script (model, data, epochs, ...). ``--smoke``
    keeps REMUL at ``smoke_betas`` plus augmentation, on the tiny smoke budget.
    """
    from ray import tune

    args = parser(doc, task=default_task).parse_args(argv)
    space = {
        "mode": tune.grid_search(["constant", "augmentation", "none"]),
        "beta": tune.grid_search(list(BETAS)),  # only varies under constant (REMUL)
        **fixed,
    }
    space = task_space(args, space)
    if args.smoke:
        space["beta"] = tune.grid_search(list(smoke_betas))
        space["mode"] = tune.grid_search(["constant", "augmentation"])
    return run(args, args.task, space, search="grid",
               experiment=args.experiment or f"{args.task}-beta")
