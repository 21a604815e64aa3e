"""A multi-node Ray cluster and an MLflow server on one machine (127.0.0.1), and trial placement.

Used by ``tests/cluster/`` and ``bench/bench_cluster.py`` to exercise the cluster path of the sweep
service without a cloud: a head and N worker nodes (each its own raylet and object store, with
logical GPUs declared through ``num_gpus``), joined over 127.0.0.1, plus a real ``mlflow server``
on 127.0.0.1 with a SQLite backend.

Every process is started in a new session, and :meth:`LocalRayCluster.stop` /
:meth:`MLflowServer.stop` end exactly those process groups (plus any stray process whose command
line names this cluster's private temp dir). Nothing here calls ``ray stop``, which would end every
Ray process on the machine, other users' included. The cluster uses its own temp dir (and
``RAY_TMPDIR``) so that ``ray.init()`` elsewhere on the machine never auto-connects to it, and
explicit free ports so that it never collides with another Ray instance.

Logical GPUs measure scheduling, not GPU speed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    return free_ports(1)[0]


def free_ports(n: int, exclude=()) -> list[int]:
    """n distinct TCP ports on 127.0.0.1, free right now: all sockets stay bound until every
    port is picked, so the OS cannot hand out the same port twice."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            if port not in exclude:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _bin(name: str) -> str:
    """The console script ``name`` of the running interpreter's environment (else PATH)."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name!r} not found next to {sys.executable} or on PATH")
    return found


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


def _kill_session(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """End ``proc`` (started with ``start_new_session=True``) and everything in its process group:
    SIGTERM to ``proc`` (it shuts its own children down), then SIGKILL to the group."""
    if proc is None:
        return
    pgid = proc.pid  # a session leader's group id is its pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _kill_marked(marker: str) -> int:
    """SIGKILL processes of this user whose command line contains ``marker`` (a private path)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ray
        return 0
    me = os.getpid()
    uid = os.getuid()
    n = 0
    for p in psutil.process_iter(["pid", "cmdline", "uids"]):
        try:
            if p.info["pid"] == me or p.info["uids"] is None or p.info["uids"].real != uid:
                continue
            if any(marker in part for part in (p.info["cmdline"] or [])):
                p.kill()
                n += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return n


def _auth_env() -> dict:
    """Ray >= 2.5x turns token auth on when ``~/.ray/auth_token`` exists (shared by every Ray user
    of the machine) or when a ``ray.init()`` in the same process enabled it. This cluster is
    loopback-only and private to its starter, so its processes and drivers opt out explicitly
    and behave the same whatever other Ray users of the machine did."""
    return {"RAY_AUTH_MODE": "disabled"}


@dataclass
class LocalRayCluster:
    """A head plus ``num_workers`` worker nodes on 127.0.0.1, each with logical GPUs.

    The nodes are started by ``ray.cluster_utils.Cluster`` (Ray's own multi-node-on-one-machine
    test utility: one GCS, one raylet and object store per node) inside a launcher process that
    this object starts in a new session; :meth:`stop` ends that session. The launcher runs with
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray then keeps every address on the loopback; the
    ``ray start --address`` CLI refuses worker nodes in that mode, which is why the CLI is not
    used) and with ``RAY_TMPDIR`` / ``temp_dir`` pointing at a private directory, so that the
    ``ray_current_cluster`` file that ``ray.init()`` auto-detects is never the machine-wide one.

    ``head_gpus`` defaults to ``gpus_per_node`` (every node declares GPUs). The Ray dashboard
    (needed by the Jobs API and the state API) binds to 127.0.0.1 when ``include_dashboard``.
    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    num_workers: int = 2
    gpus_per_node: int = 1
    cpus_per_node: int = 2
    head_gpus: int | None = None
    head_cpus: int | None = None
    include_dashboard: bool = True
    object_store_mb: int = 100
    env: dict | None = None
    start_timeout: float = 180.0
    temp_dir: str = ""
    gcs_port: int = 0
    dashboard_port: int = 0
    node_ids: list = field(default_factory=list)
    proc: subprocess.Popen | None = None
    _owns_temp: bool = False

    # -- addresses ---------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """GCS address, for ``ray.init(address=...)`` / ``RAY_ADDRESS``."""
        return f"{HOST}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        """Dashboard / Jobs API / state API address."""
        return f"http://{HOST}:{self.dashboard_port}"

    @property
    def num_nodes(self) -> int:
        return 1 + self.num_workers

    def base_env(self) -> dict:
        env = dict(os.environ)
        env.update(self.env or {})
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        env.update(_auth_env())
        if self.temp_dir:
            env["RAY_TMPDIR"] = self.temp_dir
        env.pop("RAY_ADDRESS", None)
        return env

    def driver_env(self, **extra) -> dict:
        """Environment for a driver process (``python sweeps/...``) that joins this cluster."""
        env = self.base_env()
        env["RAY_ADDRESS"] = self.address
        env.update({k: str(v) for k, v in extra.items()})
        return env

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LocalRayCluster:
        if not self.temp_dir:
            # Short path: Ray's unix sockets live under it (108-byte limit).
            self.temp_dir = tempfile.mkdtemp(prefix="rmc", dir="/tmp")
            self._owns_temp = True
        # RAY_TMPDIR/ray/ray_current_cluster is where the launcher's Ray writes the address.
        os.makedirs(os.path.join(self.temp_dir, "ray"), exist_ok=True)
        gcs, dash = free_ports(2, exclude={self.gcs_port, self.dashboard_port})
        self.gcs_port = self.gcs_port or gcs
        self.dashboard_port = self.dashboard_port or dash
        spec = {
            "temp_dir": self.temp_dir, "gcs_port": self.gcs_port,
            "dashboard_port": self.dashboard_port, "dashboard": self.include_dashboard,
            "workers": self.num_workers, "object_store_mb": self.object_store_mb,
            "gpus": self.gpus_per_node, "cpus": self.cpus_per_node,
            "head_gpus": self.gpus_per_node if self.head_gpus is None else self.head_gpus,
            "head_cpus": self.cpus_per_node if self.head_cpus is None else self.head_cpus,
        }
        log_path = os.path.join(self.temp_dir, "launcher.log")
        ready_path = os.path.join(self.temp_dir, "ready.json")
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "remul.cluster", "_serve", json.dumps(spec), ready_path],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.base_env(), start_new_session=True)
        try:
            deadline = time.monotonic() + self.start_timeout
            while not os.path.exists(ready_path):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"cluster launcher exited ({self.proc.returncode}):\n"
                                       f"{self.logs_tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cluster not up after {self.start_timeout}s:\n"
                                       f"{self.logs_tail()}")
                time.sleep(0.3)
            with open(ready_path) as fh:
                self.node_ids = json.load(fh)["node_ids"]
            while self.include_dashboard and not _http_ok(f"{self.dashboard_url}/api/version"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Ray dashboard not up at {self.dashboard_url}")
                time.sleep(0.3)
        except BaseException:
            self.stop()
            raise
        return self

    def alive_nodes(self) -> list[dict]:
        """Alive nodes as ``{"node_id", "is_head", "resources"}``, over HTTP from the dashboard's
        state API (no Ray client state in the calling process)."""
        url = f"{self.dashboard_url}/api/v0/nodes?limit=1000&detail=true"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        rows = body["data"]["result"]["result"]
        return [{"node_id": n["node_id"], "is_head": bool(n.get("is_head_node")),
                 "resources": n.get("resources_total", {})}
                for n in rows if n.get("state") == "ALIVE"]

    def logs_tail(self, n: int = 40) -> str:
        path = Path(self.temp_dir) / "launcher.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        """End the processes this cluster started, and only those."""
        _kill_session(self.proc, grace=20.0)
        self.proc = None
        if self.temp_dir:
            _kill_marked(self.temp_dir)
        if self._owns_temp and self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _serve(spec_json: str, ready_path: str) -> int:
    """Launcher body (``python -m remul.cluster _serve SPEC READY``): start the nodes, write
    READY, wait for SIGTERM, shut the nodes down."""
    spec = json.loads(spec_json)
    from ray.cluster_utils import Cluster

    stop = {"now": False}

    def on_term(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    mb = 1024 * 1024
    # every port of every node picked up front and distinct: Ray refuses a node whose
    # components share a port, and separately picked free ports can coincide
    ports = iter(free_ports(5 * (spec["workers"] + 1) + 1,
                            exclude={spec["gcs_port"], spec["dashboard_port"]}))

    def node_args(cpus, gpus):
        return dict(node_ip_address=HOST, num_cpus=cpus, num_gpus=gpus,
                    object_store_memory=spec["object_store_mb"] * mb, temp_dir=spec["temp_dir"],
                    dashboard_agent_listen_port=next(ports), metrics_export_port=next(ports),
                    runtime_env_agent_port=next(ports), node_manager_port=next(ports),
                    object_manager_port=next(ports))

    head = node_args(spec["head_cpus"], spec["head_gpus"])
    head.update(gcs_server_port=spec["gcs_port"], ray_client_server_port=next(ports),
                include_dashboard=spec["dashboard"], dashboard_host=HOST,
                dashboard_port=spec["dashboard_port"])
    cluster = Cluster(initialize_head=True, connect=False, head_node_args=head,
                      shutdown_at_exit=True)
    try:
        nodes = [cluster.head_node]
        for _ in range(spec["workers"]):
            nodes.append(cluster.add_node(wait=True, **node_args(spec["cpus"], spec["gpus"])))
        info = {"address": cluster.address, "node_ids": [n.node_id for n in nodes]}
        tmp = ready_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(info, fh)
        os.replace(tmp, ready_path)
        print("cluster ready", json.dumps(info), flush=True)
        while not stop["now"]:
            time.sleep(0.2)
    finally:
        cluster.shutdown()
    return 0


@dataclass
class MLflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite backend and local artifacts under ``root``."""

    root: str
    port: int = 0
    workers: int = 1
    start_timeout: float = 120.0
    proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> MLflowServer:
        root = Path(self.root)
        root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = dict(os.environ)
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        cmd = [_bin("mlflow"), "server", "--host", HOST, "--port", str(self.port),
               "--workers", str(self.workers),
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--serve-artifacts", "--artifacts-destination", str(root / "artifacts")]
        log = open(root / "server.log", "wb")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mlflow server exited: "
                                   + (root / "server.log").read_text(errors="replace")[-3000:])
            if _http_ok(f"{self.uri}/health"):
                return self
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"mlflow server not healthy at {self.uri}")

    def stop(self) -> None:
        _kill_session(self.proc)
        self.proc = None

    def __enter__(self) -> MLflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- where and when trials ran ------------------------------------------------------------------

def trial_placements(dashboard_url: str, job_id: str | None = None) -> list[dict]:
    """One record per GPU-holding actor (a Tune trial) seen by the cluster's state API.

    Each record: ``actor_id``, ``node_id``, ``gpu`` (requested fraction), ``start`` / ``end``
    (seconds since the epoch, from the first and last task the actor ran), ``class_name``.
    ``job_id`` (hex) restricts the records to one driver.
    """
    from ray.util.state import list_actors, list_tasks

    actors = list_actors(address=dashboard_url, detail=True, limit=10_000,
                         raise_on_missing_output=False)
    trials = {}
    for a in actors:
        a = a if isinstance(a, dict) else a.__dict__
        if job_id and a.get("job_id") != job_id:
            continue
        res = a.get("required_resources") or {}
        # Inside a placement group (Tune puts each trial in one) the request shows up both as
        # "GPU_group_<pg>" and "GPU_group_<i>_<pg>"; outside one as "GPU".
        gpu = res.get("GPU") or max(
            (v for k, v in res.items() if k.startswith("GPU_group_")), default=0)
        if gpu <= 0:
            continue
        trials[a["actor_id"]] = {"actor_id": a["actor_id"], "node_id": a.get("node_id"),
                                 "gpu": float(gpu), "class_name": a.get("class_name"),
                                 "start": None, "end": None}
    if not trials:
        return []
    tasks = list_tasks(address=dashboard_url, detail=True, limit=10_000,
                       raise_on_missing_output=False)
    for t in tasks:
        t = t if isinstance(t, dict) else t.__dict__
        rec = trials.get(t.get("actor_id"))
        if rec is None:
            continue
        st, en = t.get("start_time_ms"), t.get("end_time_ms")
        if st:
            rec["start"] = st / 1000 if rec["start"] is None else min(rec["start"], st / 1000)
        if en:
            rec["end"] = en / 1000 if rec["end"] is None else max(rec["end"], en / 1000)
        if rec["node_id"] is None and t.get("node_id"):
            rec["node_id"] = t["node_id"]
    return [r for r in trials.values() if r["start"] is not None]


def max_concurrency(placements: list[dict], key: str = "node_id") -> dict:
    """For each value of ``key``: the most records whose [start, end] overlapped at one time."""
    out: dict = {}
    events: dict = {}
    now = time.time()
    for r in placements:
        end = r["end"] if r["end"] is not None else now
        events.setdefault(r[key], []).extend([(r["start"], 1), (end, -1)])
    for k, ev in events.items():
        ev.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
        cur = best = 0
        for _, d in ev:
            cur += d
            best = max(best, cur)
        out[k] = best
    return out


def max_gpu_in_use(placements: list[dict], key: str = "node_id") -> dict:
    """For each value of ``key``: the largest sum of requested GPU fractions in use at one time."""
    out: dict = {}
    events: dict = {}
    now = time.time()
    for r in placements:
        end = r["end"] if r["end"] is not None else now
        events.setdefault(r[key], []).extend([(r["start"], r["gpu"]), (end, -r["gpu"])])
    for k, ev in events.items():
        ev.sort(key=lambda e: (e[0], e[1]))
        cur = best = 0.0
        for _, d in ev:
            cur += d
            best = max(best, cur)
        out[k] = round(best, 6)
    return out


def main(argv=None) -> int:
    """``python -m remul.cluster [--workers N] [--gpus G]``: run a local cluster until Ctrl-C."""
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_serve":
        return _serve(argv[1], argv[2])

    p = argparse.ArgumentParser(prog="python -m remul.cluster", description=main.__doc__)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--gpus", type=int, default=1, help="logical GPUs per node")
    p.add_argument("--cpus", type=int, default=2, help="CPUs per node")
    p.add_argument("--mlflow", action="store_true", help="also start an MLflow server")
    args = p.parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(LocalRayCluster(num_workers=args.workers,
                                                      gpus_per_node=args.gpus,
                                                      cpus_per_node=args.cpus))
        info = {"RAY_ADDRESS": cluster.address, "dashboard": cluster.dashboard_url}
        if args.mlflow:
            server = stack.enter_context(MLflowServer(tempfile.mkdtemp(prefix="remul-mlflow-")))
            info["MLFLOW_TRACKING_URI"] = server.uri
        print(json.dumps(info), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
