"""``remul tune | frontier | ui`` (registered by :func:`register`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

DOMAIN_NAMES = ("uniform", "loguniform", "quniform", "qloguniform", "randint", "lograndint",
                "choice", "grid_search")


def space_from_json(obj):
    """JSON space -> Ray Tune domains: ``{"loguniform": [0.01, 10]}``, ``{"choice": [..]}``,
    ``{"grid_search": [..]}``, ``{"randint": [1, 5]}``, ...; other values stay plain."""
    from ray import tune

    if isinstance(obj, dict) and len(obj) == 1:
        (name, args), = obj.items()
        if name == "grid_search":
            return tune.grid_search(list(args))
        if name == "choice":
            return tune.choice(list(args))
        if name in DOMAIN_NAMES:
            return getattr(tune, name)(*args)
    if isinstance(obj, dict):
        return {k: space_from_json(v) for k, v in obj.items()}
    return obj


def _cmd_tune(args) -> int:
    from remul.tune.sweep import tune_remul

    text = args.space
    if text and Path(text).is_file():
        text = Path(text).read_text()
    space = space_from_json(json.loads(text)) if text else {}
    res = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    tune_remul(
        args.task, space, num_samples=args.num_samples, search=args.search,
        objectives=tuple(args.objectives.split(",")) if args.objectives else
        ("val_mse", "val_equi_error"),
        scheduler=args.scheduler, resources_per_trial=res,
        max_concurrent_trials=args.max_concurrent, experiment=args.experiment,
        tracking_uri=args.tracking_uri, storage_path=args.storage_path,
        resume=args.resume, seed=args.seed,
    )
    return 0


def collect_task_runs(task: str, tracking_uri: str | None = None,
                      experiments: list[str] | None = None):
    """Every finished trial run of ``task`` in the store (all sweeps, all experiments) as a
    DataFrame with params, final metrics, ``method`` and ``sweep`` (the parent run's name)."""
    import pandas as pd
    from mlflow.entities import ViewType

    from remul.tune import tracking
    from remul.tune.frontier import method_of

    uri = tracking.default_tracking_uri(tracking_uri)
    client = tracking.client_for(uri)
    exps = tracking.with_retry(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)
    if experiments:
        exps = [e for e in exps if e.name in experiments]
    ids = [e.experiment_id for e in exps]
    if not ids:
        return pd.DataFrame(), uri
    flt = f"tags.`{tracking.TAG_TASK}` = '{task}'"
    runs, token = [], None
    while True:
        page = tracking.with_retry(client.search_runs, ids, filter_string=flt,
                                   max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    parents = {r.info.run_id: r.info.run_name for r in runs
               if r.data.tags.get(tracking.TAG_KIND) == "sweep"}
    rows = []
    for r in runs:
        tags = r.data.tags
        if tags.get(tracking.TAG_KIND) == "sweep":
            continue
        row = {"run_id": r.info.run_id, "trial_id": tags.get(tracking.TAG_TRIAL, r.info.run_id),
               "sweep": parents.get(tags.get(tracking.TAG_PARENT), tags.get(tracking.TAG_PARENT)),
               "status": "ERROR" if r.info.status == "FAILED" else r.info.status,
               "final": tags.get(tracking.TAG_FINAL) == "true",
               "mode": r.data.params.get("mode"), "model": r.data.params.get("model.name"),
               "beta_config": r.data.params.get("beta")}
        if "remul.method" in tags:
            row["method"] = tags["remul.method"]
        if "error" in tags or "remul.error" in tags:
            row["error"] = tags.get("remul.error", tags.get("error"))
        row.update(r.data.metrics)
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        if "method" not in df.columns:
            df["method"] = None
        models = set(df["model"].dropna())
        df["method"] = [
            m if isinstance(m, str) and m else
            method_of(row) + (f" [{row['model']}]" if len(models) > 1 else "")
            for m, (_, row) in zip(df["method"], df.drop(columns=["method"]).iterrows())
        ]
    return df, uri


def _cmd_frontier(args) -> int:
    from remul.tune.frontier import compute_frontier, format_table, plot_frontier

    df, uri = collect_task_runs(args.task, args.tracking_uri,
                                args.experiment.split(",") if args.experiment else None)
    if not len(df):
        print(f"no runs of task {args.task!r} in {uri}", file=sys.stderr)
        return 1
    ref = tuple(args.reference) if args.reference else None
    fr = compute_frontier(df, axes=tuple(args.axes.split(",")), reference=ref)
    out = Path(args.out or f"frontier_{args.task}")
    out.mkdir(parents=True, exist_ok=True)
    fr.table.to_csv(out / "all_runs.csv", index=False)
    fr.frontier.to_csv(out / "frontier.csv", index=False)
    png = plot_frontier(fr, out / "frontier.png", title=f"{args.task}: every sweep in the store")
    cols = ["method", "sweep", "trial_id", "beta_config", *fr.axes, "test_mse", "ood_mse",
            "equi_error", "equi_error_prime"]
    n_sweeps = df["sweep"].nunique()
    print(f"task {args.task!r}: {len(df)} runs from {n_sweeps} sweep(s) in {uri}")
    print(f"frontier ({len(fr.frontier)} points; hypervolume {fr.hypervolume:.6g} against "
          f"({fr.reference[0]:.4g}, {fr.reference[1]:.4g})):")
    print(format_table(fr.frontier, cols, max_rows=100))
    n_ex = int((fr.table["excluded"] != "").sum())
    if n_ex:
        print(f"excluded: {n_ex} run(s) (reasons in all_runs.csv)")
    print(f"wrote {out / 'all_runs.csv'}, {out / 'frontier.csv'}, {png}")
    return 0


def ui_command(tracking_uri: str | None, host: str, port: int, workers: int) -> list[str]:
    from remul.tune import tracking

    uri = tracking.default_tracking_uri(tracking_uri)
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    cmd = [exe, "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
           "--workers", str(workers)]
    root = tracking.artifact_root(uri)
    if root:
        cmd += ["--default-artifact-root", root]
    return cmd


def _cmd_ui(args) -> int:
    cmd = ui_command(args.tracking_uri, args.host, args.port, args.workers)
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    print("$ " + " ".join(cmd), flush=True)
    print(f"MLflow UI on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    if args.dry_run:
        return 0
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


def register(subparsers) -> None:
    t = subparsers.add_parser("tune", help="run a sweep (see also sweeps/*.py)")
    t.add_argument("--task", required=True)
    t.add_argument("--space", help="JSON (or a JSON file): plain values and "
                   '{"loguniform": [lo, hi]}, {"choice": [...]}, {"grid_search": [...]}, ...')
    t.add_argument("--search", default="optuna", choices=["optuna", "grid", "random"])
    t.add_argument("--num-samples", type=int)
    t.add_argument("--objectives", help="comma-separated validation metrics")
    t.add_argument("--scheduler", choices=["asha"])
    t.add_argument("--cpus-per-trial", type=float, default=1.0)
    t.add_argument("--gpus-per-trial", type=float, default=0.0)
    t.add_argument("--max-concurrent", type=int)
    t.add_argument("--experiment")
    t.add_argument("--tracking-uri")
    t.add_argument("--storage-path")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_cmd_tune)

    f = subparsers.add_parser("frontier", help="merge every sweep of a task: one table, one plot")
    f.add_argument("--task", required=True)
    f.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI or sqlite:///./mlruns.db")
    f.add_argument("--experiment", help="comma-separated experiment names (default: all)")
    f.add_argument("--axes", default="val_mse,val_equi_error")
    f.add_argument("--reference", type=float, nargs=2, metavar=("TASK_ERR", "EQUI_ERR"))
    f.add_argument("--out", help="output folder (default ./frontier_<task>)")
    f.set_defaults(func=_cmd_frontier)

    u = subparsers.add_parser("ui", help="MLflow UI on 127.0.0.1 against the sweep store")
    u.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI or sqlite:///./mlruns.db")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.add_argument("--workers", type=int, default=1)
    u.add_argument("--dry-run", action="store_true", help="print the command only")
    u.set_defaults(func=_cmd_ui)
