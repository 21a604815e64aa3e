"""The cluster configs, Docker files and KubeRay manifest: what can be checked without a cloud or
a Docker daemon (neither exists here).

- ``cluster/gpu.yaml`` and ``cluster/local.yaml`` go through Ray's own config preparation and
  schema validation (``prepare_config`` + ``validate_config``, the offline steps of ``ray up``; the
  next step, ``bootstrap_config``, calls AWS and is not run), then the keys our setup relies on.
- The shell the configs run: the env-file setup commands and ``cluster/start_mlflow.sh`` run for
  real in a temporary HOME (a real MLflow server on 127.0.0.1, ended by process group); the EFS
  mount of ``gpu.yaml`` runs with ``sudo``/``mountpoint`` stubbed (commands logged, not run).
- Tune storage is a shared filesystem at the same path on every node (EFS / NFS / an RWX PVC),
  never an ``s3://`` URI: ``tune_remul`` only supports a filesystem path yet.
- ``docker/Dockerfile``, ``docker/compose.yaml``, ``cluster/kuberay.yaml`` parse, and what they
  copy, run and pin exists in this repository and environment.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
DOCKER = REPO / "docker"
BIN = Path(sys.executable).parent


def load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def prepared(name: str) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = prepare_config(copy.deepcopy(load(name)))
    validate_config(cfg)
    return cfg


@functools.cache
def cli_flags(*cmd: str) -> frozenset[str]:
    """The ``--flags`` a console script's ``--help`` lists."""
    exe = BIN / cmd[0]
    out = subprocess.run([str(exe), *cmd[1:], "--help"], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert out.returncode == 0, out.stderr
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout))


def used_flags(command: str, program: tuple[str, ...]) -> set[str]:
    """``--flags`` given to ``program`` (e.g. ("ray", "start")) inside a shell command string."""
    words = shlex.split(command.replace(";", " ; "))
    flags: set[str] = set()
    n = len(program)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) == program:
            for w in words[i + n:]:
                if w in (";", "&&", "||", "|"):
                    break
                if w.startswith("--"):
                    flags.add(w.split("=", 1)[0])
    return flags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Ray cluster-launcher configs ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["gpu.yaml", "local.yaml"])
def test_ray_validates_cluster_config(name):
    cfg = prepared(name)  # raises on a schema error
    assert cfg["head_node_type"] in cfg["available_node_types"]
    assert cfg["docker"]["image"]
    assert cfg["file_mounts"].get("~/remul") == "."


def test_offline_validation_needs_no_aws(monkeypatch):
    """prepare/validate are the offline steps: they pass with boto3 made unimportable."""
    for mod in ("boto3", "botocore"):
        monkeypatch.setitem(sys.modules, mod, None)
    prepared("gpu.yaml")


def test_gpu_yaml_node_types():
    cfg = prepared("gpu.yaml")
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("CPU") == 0 and not head["resources"].get("GPU"), \
        "the head runs the driver + MLflow, no trials"
    gpu_types = {k: v for k, v in types.items() if v["resources"].get("GPU", 0) >= 1}
    assert gpu_types, "a GPU worker type"
    for name, t in gpu_types.items():
        assert t["min_workers"] == 0 and t["max_workers"] >= 1, name
        assert t["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot", name
        assert "--gpus all" in t["docker"]["worker_run_options"], name
    assert sum(t.get("min_workers", 0) for t in types.values()) <= cfg["max_workers"]


def test_gpu_yaml_opens_no_port_to_the_internet():
    raw = load("gpu.yaml")
    # Ray's default security group: intra-cluster + ssh only. No extra inbound rule here.
    assert not raw["provider"].get("security_group", {}).get("IpPermissions")
    for name in ("gpu.yaml", "local.yaml"):
        cfg = load(name)
        commands = "\n".join(cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
                             + cfg["setup_commands"] + cfg["head_setup_commands"])
        assert "0.0.0.0" not in commands, name
        assert "--dashboard-host=127.0.0.1" in commands, name


@pytest.mark.parametrize("name", ["gpu.yaml", "local.yaml"])
def test_head_starts_mlflow_then_ray(name):
    cmds = load(name)["head_start_ray_commands"]
    i_ml = next(i for i, c in enumerate(cmds) if "cluster/start_mlflow.sh" in c)
    i_ray = next(i for i, c in enumerate(cmds) if "ray start --head" in " ".join(c.split()))
    assert i_ml < i_ray
    assert (CLUSTER / "start_mlflow.sh").is_file()


@pytest.mark.parametrize("name", ["gpu.yaml", "local.yaml"])
def test_ray_start_flags_exist(name):
    cfg = load(name)
    known = cli_flags("ray", "start")
    for c in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]:
        unknown = used_flags(" ".join(c.split()), ("ray", "start")) - known
        assert not unknown, f"{name}: `ray start` has no {unknown}"


def _run_env_setup(name: str, home: Path, head: bool) -> dict:
    cfg = load(name)
    cmds = [cfg["setup_commands"][0]] + (cfg["head_setup_commands"] if head else [])
    script = "set -e\n" + "\n".join(cmds) + "\n. ~/.remul_env\nenv\n"
    home.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                         env={"HOME": str(home), "PATH": os.environ["PATH"]})
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


SHARED = {"gpu.yaml": "/mnt/remul-shared", "local.yaml": "/mnt/shared/remul"}
ARTIFACTS = {"gpu.yaml": "s3://", "local.yaml": "/mnt/shared/remul/"}


@pytest.mark.parametrize("name", ["gpu.yaml", "local.yaml"])
def test_node_environment(name, tmp_path):
    head = _run_env_setup(name, tmp_path / "head", head=True)
    # Tune storage on the shared filesystem (tune_remul takes no s3:// storage path)
    assert head["REMUL_SHARED"] == SHARED[name]
    assert head["REMUL_STORAGE_PATH"] == SHARED[name] + "/ray-results"
    assert "://" not in head["REMUL_STORAGE_PATH"]
    # MLflow artifacts: S3 on AWS (proxied by the server on the head), the share on-premise
    assert head["MLFLOW_ARTIFACTS_DESTINATION"].startswith(ARTIFACTS[name])
    assert head["MLFLOW_ARTIFACTS_DESTINATION"].endswith("/mlflow-artifacts")
    assert head["REMUL_DATA_DIR"] == str(tmp_path / "head" / ".cache/remul-data")  # node-local
    assert head["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert head["MLFLOW_HOST"] == "127.0.0.1"
    assert head["RAY_ADDRESS"] == "auto"
    assert head["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "1"
    worker = _run_env_setup(name, tmp_path / "worker", head=False)
    assert "MLFLOW_TRACKING_URI" not in worker, "only the driver on the head talks to MLflow"
    assert "RAY_ADDRESS" not in worker
    assert worker["REMUL_STORAGE_PATH"] == head["REMUL_STORAGE_PATH"], "same path on every node"
    # ~/.bashrc sources the env file once, however often `ray up` reruns the setup
    _run_env_setup(name, tmp_path / "worker", head=False)
    assert (tmp_path / "worker" / ".bashrc").read_text().count("remul_env") == 1


def _bind_mounts(cfg: dict) -> dict[str, str]:
    """host -> container paths of the ``-v`` options every container of the config gets."""
    opts = " ".join(cfg["docker"].get("run_options", []))
    return dict(m.groups() for m in re.finditer(r"-v\s+(/[^:\s]+):(/[^:\s]+)", opts))


@pytest.mark.parametrize("name", ["gpu.yaml", "local.yaml"])
def test_shared_mount_is_bound_into_every_container(name):
    """The host's shared mount is in head and worker containers at the same path."""
    cfg = prepared(name)
    binds = _bind_mounts(cfg)
    assert any(SHARED[name] == c or SHARED[name].startswith(c + "/")
               for h, c in binds.items() if h == c), (name, binds)
    for t in cfg["available_node_types"].values():  # no node type drops the shared options
        assert "run_options" not in t.get("docker", {}), name


def test_gpu_yaml_mounts_efs(tmp_path):
    """initialization_commands (host, every node) mount EFS over NFS 4.1 at /mnt/remul-shared,
    once, and hand ray-results to uid 1000; run with sudo/mountpoint stubbed."""
    cfg = load("gpu.yaml")
    script = "\n".join(cfg["initialization_commands"])
    assert re.search(r"^\s*REMUL_EFS=fs-[0-9a-f]+\.efs\.[a-z0-9-]+\.amazonaws\.com\s*$",
                     script, re.M), "the EFS DNS name placeholder"
    assert "# CHANGE" in script.split("REMUL_EFS=")[0], "the EFS id is marked CHANGE"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "sudo.log"
    for cmd, body in {"sudo": f'echo "$*" >> {log}', "mountpoint": 'exit "${MP_RC:-1}"',
                      "mount.nfs4": "exit 0"}.items():
        (stubs / cmd).write_text(f"#!/bin/bash\n{body}\n")
        (stubs / cmd).chmod(0o755)
    env = {"HOME": str(tmp_path), "PATH": f"{stubs}:/usr/bin:/bin"}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    lines = log.read_text().splitlines()
    mounts = [ln.split() for ln in lines if ln.startswith("mount ")]
    assert len(mounts) == 1, lines
    m = mounts[0]
    assert m[m.index("-t") + 1] == "nfs4"
    assert "nfsvers=4.1" in m[m.index("-o") + 1].split(",")
    assert re.fullmatch(r"fs-[0-9a-f]+\.efs\.[a-z0-9-]+\.amazonaws\.com:/", m[-2])
    assert m[-1] == SHARED["gpu.yaml"]
    assert f"install -d -o 1000 -g 1000 {SHARED['gpu.yaml']}/ray-results" in lines
    assert not any("apt-get" in ln for ln in lines), "nfs-common is only installed if missing"
    # already mounted (a second `ray up`): no second mount
    log.unlink()
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                         env=dict(env, MP_RC="0"))
    assert out.returncode == 0, out.stderr
    assert not any(ln.startswith("mount ") for ln in log.read_text().splitlines())


def test_gpu_yaml_setup_refuses_a_missing_efs_mount(tmp_path):
    """The container's setup fails on a node where the shared path is not an NFS mount."""
    cfg = load("gpu.yaml")
    check = next(c for c in cfg["setup_commands"] if "/proc/mounts" in c)
    _run_env_setup("gpu.yaml", tmp_path, head=False)
    mounts = tmp_path / "mounts"
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    for line, ok in [("/dev/root / ext4 rw 0 0", False),
                     ("fs-1.efs.us-west-2.amazonaws.com:/ /mnt/remul-shared nfs4 rw 0 0", True)]:
        mounts.write_text(line + "\n")
        out = subprocess.run(["bash", "-c", check.replace("/proc/mounts", str(mounts))],
                             capture_output=True, text=True, env=env, timeout=30)
        assert (out.returncode == 0) == ok, (line, out.stderr)


def test_no_s3_storage_path_for_tune():
    """No config or document tells Tune (--storage-path / REMUL_STORAGE_PATH) to use S3."""
    bad = re.compile(r"(--storage-path[ =]|REMUL_STORAGE_PATH=|storage_path=)\s*['\"]?s3://")
    for path in [*CLUSTER.glob("*.yaml"), CLUSTER / "README.md", REPO / "README.md"]:
        assert not bad.search(path.read_text()), path
    docs = list(yaml.safe_load_all((CLUSTER / "kuberay.yaml").read_text()))
    rc = next(d for d in docs if d["kind"] == "RayCluster")
    for c in _kuberay_ray_containers(rc):
        env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        assert not env["REMUL_STORAGE_PATH"].startswith("s3://"), c["name"]


def test_storage_path_flag_defaults_to_the_node_environment(monkeypatch):
    """On a node (REMUL_STORAGE_PATH set by the config) the sweep scripts use the share."""
    from remul.tune import scripts

    monkeypatch.setenv("REMUL_STORAGE_PATH", "/mnt/remul-shared/ray-results")
    assert scripts.parser("x").parse_args([]).storage_path == "/mnt/remul-shared/ray-results"
    assert scripts.parser("x").parse_args(["--storage-path", "/tmp/r"]).storage_path == "/tmp/r"
    monkeypatch.delenv("REMUL_STORAGE_PATH")
    assert scripts.parser("x").parse_args([]).storage_path is None  # tune_remul: ./ray_results


def test_setup_commands_exist():
    from remul.cli import build_parser
    from remul.data.registry import DATASETS

    for name in ("gpu.yaml", "local.yaml"):
        cfg = load(name)
        text = "\n".join(cfg["setup_commands"])
        assert "pip install" in text and "-e ~/remul" in text
        assert "remul data $REMUL_DATASETS" in text
        datasets = re.search(r'REMUL_DATASETS="([^"]+)"', text).group(1).split()
        assert set(datasets) <= set(DATASETS), f"{name}: unknown dataset in {datasets}"
        args = build_parser().parse_args(["data", *datasets])
        assert callable(args.func)


def test_start_mlflow_refuses_all_interfaces(tmp_path):
    out = subprocess.run(["bash", str(CLUSTER / "start_mlflow.sh")], capture_output=True,
                         text=True, timeout=30,
                         env=dict(os.environ, HOME=str(tmp_path), MLFLOW_HOST="0.0.0.0"))
    assert out.returncode == 2 and "refusing" in out.stderr


@pytest.mark.timeout(240)
def test_start_mlflow_script_serves_on_loopback(tmp_path):
    """cluster/start_mlflow.sh as the head runs it: a healthy server on 127.0.0.1 only,
    idempotent, with a SQLite database backend and proxied artifacts."""
    import psutil

    port = free_port()
    env = dict(os.environ, HOME=str(tmp_path), MLFLOW_PORT=str(port),
               PATH=f"{BIN}:{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_HOST", None)
    first = subprocess.Popen(["bash", str(CLUSTER / "start_mlflow.sh")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    pgid = first.pid
    try:
        out, _ = first.communicate(timeout=200)
        assert first.returncode == 0, out
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert r.status == 200
        pid = int((tmp_path / "mlflow" / "server.pid").read_text())
        procs = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
        addrs = {c.laddr for p in procs for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
        assert addrs and all(a.ip == "127.0.0.1" for a in addrs), addrs
        assert (tmp_path / "mlflow" / "mlflow.db").exists()  # database backend
        again = subprocess.run(["bash", str(CLUSTER / "start_mlflow.sh")], env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "already serving" in again.stdout
    finally:
        try:
            os.killpg(pgid, signal.SIGTERM)
            for _ in range(50):
                os.killpg(pgid, 0)
                time.sleep(0.2)
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- Docker --------------------------------------------------------------------------------------

def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> [(INSTRUCTION, args)] of docker/Dockerfile (line continuations joined)."""
    text = (DOCKER / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages: dict[str, list] = {"_global": []}
    cur = "_global"
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            cur = m.group(2) or f"stage{len(stages)}"
            stages[cur] = []
        stages[cur].append((instr, args.strip()))
    return stages


def arg_default(stage: list, name: str) -> str:
    for instr, args in stage:
        if instr == "ARG" and args.startswith(f"{name}="):
            return args.split("=", 1)[1].strip('"')
    raise AssertionError(f"no ARG {name}")


def test_dockerfile_stages_and_user():
    stages = dockerfile_stages()
    assert list(stages)[-1] == "runtime", "the default target (last stage) is the runtime image"
    assert "mlflow-server" in stages
    cuda = arg_default(stages["_global"], "CUDA_IMAGE")
    assert cuda.startswith("nvidia/cuda:") and "runtime" in cuda
    for name in ("runtime", "mlflow-server"):
        users = [a for i, a in stages[name] if i == "USER"]
        assert users and users[-1] not in ("root", "0"), f"{name} runs as non-root"
    run = " ".join(a for i, a in stages["runtime"] if i == "RUN")
    assert "useradd" in run and "--uid 1000" in run  # uid of the ssh user Ray mounts files as


def test_dockerfile_pins_match_this_environment():
    stages = dockerfile_stages()
    assert arg_default(stages["runtime"], "RAY_VERSION") == version("ray")
    assert arg_default(stages["mlflow-server"], "MLFLOW_VERSION") == version("mlflow")
    makefile = (REPO / "Makefile").read_text()
    torch_spec = re.search(r"^TORCH_SPEC \?= (\S+)", makefile, re.M).group(1)
    assert arg_default(stages["runtime"], "TORCH_SPEC") == torch_spec
    assert "whl/cu" in arg_default(stages["runtime"], "TORCH_INDEX_URL")  # a CUDA torch build
    run = " ".join(a for i, a in stages["runtime"] if i == "RUN")
    assert "ray[default" in run and "boto3" in run and "psycopg2" in run
    assert "pip install -e /home/ray/remul" in run


def test_dockerfile_copies_exist_and_pass_the_dockerignore():
    import fnmatch

    ignore = [ln.strip() for ln in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]

    def included(path: str) -> bool:
        ok = True
        for pat in ignore:
            neg = pat.startswith("!")
            p = pat[1:] if neg else pat
            if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.rstrip("/*") + "/*") \
                    or path == p.rstrip("/*"):
                ok = neg
        return ok

    copies = [a for st in dockerfile_stages().values() for i, a in st if i == "COPY"]
    assert copies
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        for src in words[:-1]:
            assert (REPO / src).exists(), f"COPY {src}: not in the repository"
            assert included(src), f"COPY {src}: excluded by docker/Dockerfile.dockerignore"
    assert not included(".venv") and not included(".git")


def test_docker_scripts_parse():
    for script in (DOCKER / "mlflow_server.sh", CLUSTER / "start_mlflow.sh"):
        out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert out.returncode == 0, (script, out.stderr)
        assert os.access(script, os.X_OK), f"{script} is executable"


def test_compose_file():
    comp = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = comp["services"]
    assert {"postgres", "minio", "mlflow"} <= set(services)
    assert "ports" not in services["postgres"], "the database is internal only"
    for name, svc in services.items():
        for port in svc.get("ports", []):
            m = re.match(r"\$\{(\w+):-([\d.]+)\}:", port)
            assert m and m.group(2) == "127.0.0.1", f"{name}: {port} is not 127.0.0.1 by default"
    ml = services["mlflow"]
    assert ml["build"]["target"] in dockerfile_stages()
    assert (REPO / "docker" / ml["build"]["context"] / ml["build"]["dockerfile"]).resolve() \
        == (DOCKER / "Dockerfile").resolve()
    cmd = ml["command"]
    unknown = {w for w in cmd if w.startswith("--")} - cli_flags("mlflow", "server")
    assert not unknown, f"`mlflow server` has no {unknown}"
    opt = {cmd[i]: cmd[i + 1] for i in range(len(cmd) - 1) if cmd[i].startswith("--")}
    assert opt["--backend-store-uri"].startswith("postgresql://")
    assert opt["--artifacts-destination"].startswith("s3://")
    assert ml["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # secrets are required from docker/.env, never defaulted
    assert "${POSTGRES_PASSWORD:?" in (DOCKER / "compose.yaml").read_text()
    assert "MINIO_ROOT_PASSWORD:?" in (DOCKER / "compose.yaml").read_text()
    # the entry point the mlflow image runs
    entry = [a for i, a in dockerfile_stages()["mlflow-server"] if i == "ENTRYPOINT"]
    assert entry and "mlflow_server.sh" in entry[0]


def test_start_mlflow_flags_exist():
    text = (CLUSTER / "start_mlflow.sh").read_text()
    block = text[text.index("nohup mlflow server"):].split(">", 1)[0]
    unknown = set(re.findall(r"(--[a-z][a-z-]*)", block)) - cli_flags("mlflow", "server")
    assert not unknown


# --- KubeRay -------------------------------------------------------------------------------------

def test_kuberay_manifest():
    docs = list(yaml.safe_load_all((CLUSTER / "kuberay.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert {"RayCluster", "RayJob", "NetworkPolicy"} <= set(kinds)
    rc, job = kinds["RayCluster"], kinds["RayJob"]
    assert rc["apiVersion"] == job["apiVersion"] == "ray.io/v1"
    assert rc["spec"]["rayVersion"] == version("ray")
    head = rc["spec"]["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"
    containers = {c["name"]: c for c in head["template"]["spec"]["containers"]}
    ml = containers["mlflow"]["command"]
    assert ml[:2] == ["mlflow", "server"] and ml[ml.index("--host") + 1] == "127.0.0.1"
    assert not ({w for w in ml if w.startswith("--")} - cli_flags("mlflow", "server"))
    env = {e["name"]: e.get("value") for e in containers["ray-head"]["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert ml[ml.index("--artifacts-destination") + 1].startswith("s3://")  # proxied by MLflow
    worker = rc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == rc["metadata"]["name"]
    script = re.search(r"/home/ray/remul/(\S+\.py)", job["spec"]["entrypoint"]).group(1)
    assert (REPO / script).is_file()
    images = {c["image"] for c in containers.values()} | {worker["image"]}
    assert images == {load("gpu.yaml")["docker"]["image"]}


def _kuberay_ray_containers(rc: dict) -> list[dict]:
    """The Ray containers (head + every worker group) of a RayCluster, with their pod spec."""
    specs = [rc["spec"]["headGroupSpec"]["template"]["spec"]]
    specs += [g["template"]["spec"] for g in rc["spec"]["workerGroupSpecs"]]
    out = []
    for spec in specs:
        for c in spec["containers"]:
            if c["name"].startswith("ray-"):
                out.append(dict(c, _pod=spec))
    return out


def test_kuberay_storage_is_a_shared_rwx_volume():
    """Head and workers mount one ReadWriteMany PVC at the same path; Tune storage is in it."""
    docs = list(yaml.safe_load_all((CLUSTER / "kuberay.yaml").read_text()))
    pvcs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    rc = next(d for d in docs if d["kind"] == "RayCluster")
    containers = _kuberay_ray_containers(rc)
    assert len(containers) == 1 + len(rc["spec"]["workerGroupSpecs"])
    paths = set()
    for c in containers:
        env = {e["name"]: e.get("value") for e in c["env"]}
        storage = env["REMUL_STORAGE_PATH"]
        paths.add(storage)
        volumes = {v["name"]: v for v in c["_pod"]["volumes"]}
        mount = next(m for m in c["volumeMounts"]
                     if storage.startswith(m["mountPath"].rstrip("/") + "/"))
        claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
        assert claim in pvcs, f"{c['name']}: {claim} is defined in the manifest"
        assert pvcs[claim]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert len(paths) == 1, f"one storage path on every node: {paths}"
