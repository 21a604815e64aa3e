"""``tune_remul(task, space, **options) -> SweepResult``: a REMUL sweep on Ray Tune + MLflow.

See :mod:`remul.tune.space` for the search-space schema and :mod:`remul.tune.frontier` for the
frontier and hypervolume. The sweep:

1. validates the task, space and options (no Ray yet);
2. opens the MLflow parent run (params: task, space, search, objectives, seed; tags: git commit,
   package versions) in ``tracking_uri`` (default ``sqlite:///<cwd>/mlruns.db``);
3. connects to Ray (``address=``, else ``$RAY_ADDRESS``, else a local instance on 127.0.0.1);
4. loads the dataset once and puts it in the object store;
5. runs the trials (Optuna multi-objective TPE, grid or random; optional ASHA for one objective),
   each reporting every epoch with a checkpoint; a driver-side callback writes the child runs;
6. computes the frontier on validation metrics, logs ``results.csv``, ``frontier.csv`` and
   ``frontier.png`` on the parent, tags the frontier children ``frontier=true``, and prints the
   frontier, the artifact paths and the command that opens the UI.

``resume=True`` finds the latest interrupted sweep of the same experiment under
``storage_path`` and finishes it with ``Tuner.restore`` (finished trials are neither rerun nor
logged twice); ``resume="<experiment dir>"`` picks one. A resumed sweep keeps its own space,
search, objectives and resources (stored in ``remul_sweep.json``); those arguments are ignored.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind to 127.0.0.1
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# we keep 2 checkpoints per trial, which forces an experiment snapshot now and then: expected
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

from remul.tune import tracking  # noqa: E402
from remul.tune.frontier import DEFAULT_AXES, compute_frontier, format_table, plot_frontier  # noqa: E402,E501
from remul.tune.space import (  # noqa: E402
    DEFAULT_OBJECTIVES,
    OptunaSpace,
    SweepSpec,
    candidates,
    strip_none,
    template,
    validate_sweep,
)

STATE_FILE = "remul_sweep.json"
SPEC_FILE = "remul_space.pkl"  # the searched domains, for a resume before Ray saved its state
SUMMARY_METRICS = ("val_mse", "val_equi_error", "test_mse", "ood_mse", "equi_error",
                   "equi_error_prime", "train_seconds")


@dataclass
class SweepResult:
    """What a sweep returns.

    Attributes:
        results: one row per trial: ``trial_id``, ``status``, ``mlflow_run_id``, ``mode``,
            ``config.<key>`` for the searched keys, the final metrics, ``excluded`` (reason)
            and ``on_frontier``.
        frontier: the frontier rows, sorted by task error (validation), with test metrics.
        hypervolume: of the frontier against ``reference`` (see :mod:`remul.tune.frontier`).
        parent_run_id / experiment_id / tracking_uri: where MLflow has the sweep.
        artifacts: local paths of ``results.csv``, ``frontier.csv``, ``frontier.png``, and the
            parent run's artifact URI under ``"mlflow"``.
        experiment_path: the Ray Tune experiment directory (checkpoints, ``Tuner.restore``).
        optuna_storage: the Optuna study's database URL (None for grid/random).
    """

    task: str
    results: pd.DataFrame
    frontier: pd.DataFrame
    hypervolume: float
    reference: tuple[float, float]
    parent_run_id: str
    experiment_id: str
    experiment_name: str
    tracking_uri: str
    artifacts: dict = field(default_factory=dict)
    experiment_path: str = ""
    optuna_storage: str | None = None
    study_name: str | None = None
    axes: tuple[str, str] = DEFAULT_AXES

    @property
    def ui_command(self) -> str:
        return f"remul ui --tracking-uri '{self.tracking_uri}'"

    def summary(self) -> str:
        cols = ["trial_id", "mode"] + [c for c in self.frontier.columns
                                       if c.startswith("config.") and c != "config.mode"]
        cols += [c for c in SUMMARY_METRICS if c in self.frontier.columns]
        excluded = self.results[self.results["excluded"] != ""] if len(self.results) else []
        lines = [
            f"REMUL sweep on {self.task!r}: {len(self.results)} trials, "
            f"{len(self.frontier)} on the frontier of ({self.axes[0]}, {self.axes[1]}) "
            "[validation; test metrics reported, never used to choose]",
            f"hypervolume {self.hypervolume:.6g} against reference "
            f"({self.reference[0]:.4g}, {self.reference[1]:.4g})",
            format_table(self.frontier, cols),
        ]
        if len(excluded):
            lines.append("excluded:")
            for _, r in excluded.iterrows():
                lines.append(f"  {r['trial_id']}: {r['excluded'][:200]}")
        lines.append("artifacts:")
        for k, v in self.artifacts.items():
            lines.append(f"  {k}: {v}")
        lines.append(f"MLflow parent run {self.parent_run_id} "
                     f"(experiment {self.experiment_name!r})")
        lines.append(f"open the UI: {self.ui_command}")
        return "\n".join(lines)


def _storage_root(storage_path: str | None) -> Path:
    return Path(storage_path or Path.cwd() / "ray_results").resolve()


def _find_resumable(root: Path, experiment: str) -> Path | None:
    best = None
    if not root.is_dir():
        return None
    for d in root.iterdir():
        f = d / STATE_FILE
        if not f.is_file():
            continue
        try:
            st = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if st.get("experiment") != experiment or st.get("status") == "finished":
            continue
        if best is None or f.stat().st_mtime > best[0]:
            best = (f.stat().st_mtime, d)
    return best[1] if best else None


def _optuna_url(uri: str, exp_root: Path) -> str:
    db = tracking.sqlite_path(uri)
    folder = db.resolve().parent if db is not None else exp_root
    return f"sqlite:///{folder / 'optuna.db'}"


def _max_epochs(spec: SweepSpec, base_cfg: dict) -> int:
    if "epochs" in spec.searched:
        return int(max(candidates(spec.searched["epochs"])))
    return int(base_cfg["epochs"])


def loopback_only() -> None:
    """Keep a local Ray on 127.0.0.1: single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``)
    unless the caller set that variable. Ray reads it when first imported, so the constant is
    also updated for a Ray imported earlier."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"].lower() in ("0", "false"):
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def _init_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` / ``$RAY_ADDRESS`` or start a local instance; True if started."""
    import ray

    if ray.is_initialized():
        return False
    addr = address or os.environ.get("RAY_ADDRESS")
    if addr:
        ray.init(address=addr)
        return False
    loopback_only()
    ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=True, logging_level="WARNING")
    return True


def _results_table(result_grid, runs_by_trial: dict, spec: SweepSpec) -> pd.DataFrame:
    from remul.tune.space import flatten_space

    rows = []
    for r in result_grid:
        m = dict(r.metrics or {})
        cfg = strip_none(dict(r.config or {}))
        tid = m.get("trial_id") or cfg.get("trial_id") or (Path(r.path).name if r.path else "")
        row = {"trial_id": tid, "status": "ERROR" if r.error else "TERMINATED",
               "error": (str(r.error).strip().splitlines() or [""])[-1][:300] if r.error else "",
               "mlflow_run_id": runs_by_trial.get(tid, "")}
        flat_cfg = flatten_space(cfg) if cfg else {}
        row["mode"] = flat_cfg.get("mode", spec.fixed.get("mode", "constant"))
        for k, v in flat_cfg.items():
            row[f"config.{k}"] = v
        row["final"] = bool(m.get("final", False))
        for k, v in m.items():
            if k in tracking.RAY_KEYS:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row[k] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("trial_id").reset_index(drop=True)
    return df


def tune_remul(
    task: str,
    space: dict,
    *,
    num_samples: int | None = None,
    search: str = "optuna",
    objectives=DEFAULT_OBJECTIVES,
    scheduler: str | None = None,
    resources_per_trial: dict | None = None,
    max_concurrent_trials: int | None = None,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    storage_path: str | None = None,
    resume: bool | str = False,
    seed: int = 0,
    address: str | None = None,
    num_cpus: int | None = None,
    reuse_actors: bool = True,
    max_failures: int = 2,
    report_interval_s: float = 1.0,
    reference: tuple[float, float] | None = None,
    verbose: int = 1,
    quiet: bool = False,
) -> SweepResult:
    """Run a REMUL sweep; see the module docstring and README ("Sweeps").

    Args:
        task: task name (``nbody``, ``mocap_*``, ``md17_*``).
        space: search space (see :mod:`remul.tune.space`).
        num_samples: trials for optuna/random (default 8); grid repeats (default 1; repeat
            ``r`` uses ``seed + r`` unless ``seed`` is searched).
        search: ``"optuna"`` (multi-objective TPE), ``"grid"`` or ``"random"``.
        objectives: validation metrics, all minimised (default ``val_mse``, ``val_equi_error``).
        scheduler: None or ``"asha"`` (single objective only).
        resources_per_trial: ``{"cpu": 1, "gpu": 0}``; ``gpu`` may be fractional.
        max_concurrent_trials: cap on running trials (default: as resources allow).
        experiment: MLflow experiment and Ray run-name prefix (default ``remul-<task>``).
        tracking_uri: MLflow store (default ``$MLFLOW_TRACKING_URI`` or
            ``sqlite:///<cwd>/mlruns.db``).
        storage_path: Ray Tune results and checkpoints (default ``<cwd>/ray_results``).
        resume: True: finish the latest interrupted sweep of ``experiment``; a path: that one.
        seed: seeds Optuna's sampler and random draws; trials train with the config's ``seed``.
        address: Ray cluster address (default ``$RAY_ADDRESS``, else a local instance).
        num_cpus: CPUs of a local Ray instance (default: all).
        reuse_actors: reuse trial actors between trials.
        max_failures: restarts of a failed trial from its last checkpoint.
        report_interval_s: a trial reports (with its checkpoint) after an epoch once this much
            time passed since its last report; 0 = every epoch. Shorter epochs are batched and
            still all logged to MLflow.
        reference: hypervolume reference point (default: 1.1 x the nadir of valid trials).
        verbose: Ray Tune verbosity (0-3).
        quiet: do not print the closing summary.
    """
    import ray
    from ray import tune

    from remul.config import resolve_config
    from remul.tasks import get_task
    from remul.tune.trainable import TrialSetup, data_key, remul_trainable

    spec = validate_sweep(
        task, space, search=search, objectives=objectives, scheduler=scheduler,
        num_samples=num_samples, seed=seed, resources_per_trial=resources_per_trial,
        max_concurrent_trials=max_concurrent_trials,
    )
    experiment = experiment or f"remul-{task}"
    root = _storage_root(storage_path)
    # --- where: new run or resumed one ---------------------------------------------------
    exp_dir: Path | None = None
    state: dict = {}
    if resume:
        exp_dir = Path(resume).resolve() if isinstance(resume, (str, os.PathLike)) else \
            _find_resumable(root, experiment)
        if exp_dir is not None and (exp_dir / STATE_FILE).is_file():
            state = json.loads((exp_dir / STATE_FILE).read_text())
        elif isinstance(resume, (str, os.PathLike)):
            raise ValueError(f"resume: no sweep state ({STATE_FILE}) in {exp_dir}")
        elif not quiet:
            print(f"resume: no interrupted sweep of {experiment!r} under {root}; starting anew")
    if state:  # the interrupted sweep's own settings win over the arguments
        if state.get("task") != task:
            raise ValueError(f"resume: {exp_dir} is a sweep of task {state.get('task')!r}")
        spec.fixed = state["fixed"]
        spec.objectives = tuple(state["objectives"])
        spec.resources = state["resources"]
        spec.search = search = state["search"]
        spec_pkl = exp_dir / SPEC_FILE
        if spec_pkl.is_file():  # written by this package for this sweep (trusted, like tuner.pkl)
            import ray.cloudpickle as cloudpickle

            spec.searched = cloudpickle.loads(spec_pkl.read_bytes())
    # the dataset: loaded once per sweep, before MLflow or Ray (a missing dataset fails here)
    task_obj = get_task(task)
    base_cfg = resolve_config(task_obj, spec.fixed)
    splits = task_obj.load(base_cfg["data"], base_cfg["seed"])
    uri = tracking.default_tracking_uri(state.get("tracking_uri") or tracking_uri)
    client = tracking.client_for(uri)
    if state:
        run_name = state["run_name"]
        exp_id, parent_id = state["experiment_id"], state["parent_run_id"]
        tracking.with_retry(client.update_run, parent_id, status="RUNNING")
    else:
        run_name = f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        exp_dir = root / run_name
        exp_id = tracking.get_or_create_experiment(client, experiment, uri)
        parent_id = tracking.start_parent(
            client, exp_id, task=task, run_name=run_name,
            params={"task": task, "space": spec.space_description, "search": search,
                    "objectives": list(spec.objectives), "seed": seed,
                    "num_samples": spec.num_samples, "scheduler": str(scheduler),
                    "n_trials": spec.n_trials(), "resources_per_trial": spec.resources,
                    "fixed": spec.fixed},
        )
        exp_dir.mkdir(parents=True, exist_ok=True)
        state = {"task": task, "experiment": experiment, "experiment_id": exp_id,
                 "parent_run_id": parent_id, "tracking_uri": uri, "run_name": run_name,
                 "search": search, "status": "running", "fixed": spec.fixed,
                 "objectives": list(spec.objectives), "resources": spec.resources}
        (exp_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        import ray.cloudpickle as cloudpickle

        (exp_dir / SPEC_FILE).write_bytes(cloudpickle.dumps(spec.searched))
    optuna_url = _optuna_url(uri, exp_dir) if search == "optuna" else None

    started = _init_ray(address, num_cpus)
    try:
        ref = ray.put(splits)  # one object-store copy per node
        del splits
        setup = TrialSetup(
            task=task, base_config=spec.fixed, objectives=spec.objectives,
            cpus=spec.resources["cpu"], report_interval_s=report_interval_s,
            data_refs={data_key(task, base_cfg["data"], base_cfg["seed"]): [ref]},
        )
        res = {"cpu": spec.resources["cpu"]}
        if spec.resources["gpu"]:
            res["gpu"] = spec.resources["gpu"]
        trainable = tune.with_resources(tune.with_parameters(remul_trainable, setup=setup), res)

        if (exp_dir / "tuner.pkl").exists() and tune.Tuner.can_restore(str(exp_dir)):
            tuner = tune.Tuner.restore(str(exp_dir), trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            tuner = _new_tuner(spec, trainable, exp_dir, run_name, uri, exp_id, parent_id,
                               optuna_url, base_cfg, reuse_actors, max_failures, verbose)
        grid = tuner.fit()
    except BaseException:
        tracking.with_retry(client.set_terminated, parent_id, "KILLED")
        if started:
            ray.shutdown()
        raise

    # --- results, frontier, artifacts ------------------------------------------------------
    children = tracking.child_runs(client, exp_id, parent_id)
    runs_by_trial = {r.data.tags.get(tracking.TAG_TRIAL): r.info.run_id for r in children}
    df = _results_table(grid, runs_by_trial, spec)
    axes = tuple(spec.objectives) if len(spec.objectives) == 2 else DEFAULT_AXES
    fr = compute_frontier(df, axes=axes, reference=reference)
    out_dir = exp_dir / "remul"
    out_dir.mkdir(parents=True, exist_ok=True)
    results_csv, frontier_csv = out_dir / "results.csv", out_dir / "frontier.csv"
    fr.table.to_csv(results_csv, index=False)
    fr.frontier.to_csv(frontier_csv, index=False)
    png = plot_frontier(fr, out_dir / "frontier.png", title=f"{task}: {run_name}")
    for p in (results_csv, frontier_csv, png):
        tracking.with_retry(client.log_artifact, parent_id, str(p))
    on = set(fr.frontier["trial_id"]) if len(fr.frontier) else set()
    for _, row in fr.table.iterrows():
        rid = row.get("mlflow_run_id")
        if isinstance(rid, str) and rid:
            tracking.with_retry(client.set_tag, rid, tracking.TAG_FRONTIER,
                                "true" if row["trial_id"] in on else "false")
            if row["excluded"]:
                tracking.with_retry(client.set_tag, rid, "remul.excluded",
                                    str(row["excluded"])[:5000])
    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    pm = {"n_trials": len(df), "n_frontier": len(fr.frontier),
          "n_excluded": int((fr.table["excluded"] != "").sum()) if len(df) else 0}
    if math.isfinite(fr.hypervolume):
        pm["hypervolume"] = fr.hypervolume
    tracking.with_retry(client.log_batch, parent_id,
                        metrics=[Metric(k, float(v), ts, 0) for k, v in pm.items()])
    tracking.with_retry(client.set_tag, parent_id, "remul.experiment_path", str(exp_dir))
    tracking.with_retry(client.set_terminated, parent_id, "FINISHED")
    state["status"] = "finished"
    (exp_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
    parent = tracking.with_retry(client.get_run, parent_id)
    result = SweepResult(
        task=task, results=fr.table, frontier=fr.frontier, hypervolume=fr.hypervolume,
        reference=fr.reference, parent_run_id=parent_id, experiment_id=exp_id,
        experiment_name=experiment, tracking_uri=uri,
        artifacts={"results.csv": str(results_csv), "frontier.csv": str(frontier_csv),
                   "frontier.png": str(png), "mlflow": parent.info.artifact_uri},
        experiment_path=str(exp_dir), optuna_storage=optuna_url,
        study_name=run_name if optuna_url else None, axes=axes,
    )
    if started:
        ray.shutdown()
    if not quiet:
        print(result.summary(), flush=True)
    return result


def _new_tuner(spec, trainable, exp_dir, run_name, uri, exp_id, parent_id, optuna_url,
               base_cfg, reuse_actors, max_failures, verbose):
    from ray import tune

    objs = list(spec.objectives)
    if spec.search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        storage = optuna.storages.RDBStorage(optuna_url)
        searcher = OptunaSearch(
            space=OptunaSpace(spec.searched, spec.fixed.get("mode", base_cfg["mode"])),
            metric=objs if len(objs) > 1 else objs[0],
            mode=["min"] * len(objs) if len(objs) > 1 else "min",
            seed=spec.seed, storage=storage, study_name=run_name,
        )
        num = spec.num_samples
        param_space = {}
    else:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        configs = spec.trial_configs()
        # max_concurrent_trials only limits a Searcher, so the generator limits itself
        searcher = BasicVariantGenerator(points_to_evaluate=configs, random_state=spec.seed,
                                         max_concurrent=spec.max_concurrent_trials or 0)
        num = len(configs)
        param_space = template(configs)
    scheduler = None
    if spec.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(
            time_attr="epoch", metric=objs[0], mode="min",
            max_t=_max_epochs(spec, base_cfg), grace_period=1, reduction_factor=2,
        )
    callback = tracking.MlflowTrialCallback(uri, exp_id, parent_id, spec.task, spec.fixed)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=num,
            max_concurrent_trials=spec.max_concurrent_trials if spec.search == "optuna" else None,
            reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=run_name, storage_path=str(Path(exp_dir).parent), callbacks=[callback],
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=verbose,
        ),
    )
