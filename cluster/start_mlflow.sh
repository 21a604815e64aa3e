#!/usr/bin/env bash
# Start the cluster's MLflow tracking server on the Ray head (called by head_start_ray_commands
# in cluster/gpu.yaml and cluster/local.yaml). Idempotent: a healthy server is left running.
#
# Settings (environment, normally from ~/.remul_env written by the cluster config):
#   MLFLOW_HOST                   127.0.0.1 (default): loopback only, the sweep driver on the head
#                                 is the only client. "private": the head's private address, for
#                                 trainables that log from the workers (the security group /
#                                 firewall must admit only cluster members). Never 0.0.0.0.
#   MLFLOW_PORT                   5000
#   MLFLOW_BACKEND_STORE_URI      sqlite:///$HOME/mlflow/mlflow.db (or postgresql://...)
#   MLFLOW_ARTIFACTS_DESTINATION  s3://bucket/prefix, or a shared directory; default
#                                 $HOME/mlflow/artifacts (single-node use only)
#   MLFLOW_WORKERS                2
set -euo pipefail

[ -f "$HOME/.remul_env" ] && . "$HOME/.remul_env"

host="${MLFLOW_HOST:-127.0.0.1}"
port="${MLFLOW_PORT:-5000}"
state_dir="$HOME/mlflow"
mkdir -p "$state_dir"
backend="${MLFLOW_BACKEND_STORE_URI:-sqlite:///$state_dir/mlflow.db}"
artifacts="${MLFLOW_ARTIFACTS_DESTINATION:-$state_dir/artifacts}"

if [ "$host" = "private" ]; then
    host="$(hostname -I | awk '{print $1}')"
fi
if [ "$host" = "0.0.0.0" ] || [ "$host" = "::" ]; then
    echo "start_mlflow.sh: refusing to bind MLflow to all interfaces ($host)" >&2
    exit 2
fi

health="http://$host:$port/health"
healthy() {
    python3 - "$health" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

if healthy; then
    echo "start_mlflow.sh: MLflow already serving at http://$host:$port"
    exit 0
fi

# MLflow 3's optional job runner is not used by REMUL; keep the server to tracking only.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

nohup mlflow server \
    --host "$host" --port "$port" \
    --workers "${MLFLOW_WORKERS:-2}" \
    --backend-store-uri "$backend" \
    --serve-artifacts --artifacts-destination "$artifacts" \
    >"$state_dir/server.log" 2>&1 </dev/null &
echo $! >"$state_dir/server.pid"

for _ in $(seq 1 90); do
    if healthy; then
        echo "start_mlflow.sh: MLflow serving at http://$host:$port (pid $(cat "$state_dir/server.pid"))"
        exit 0
    fi
    sleep 1
done
echo "start_mlflow.sh: MLflow did not become healthy; see $state_dir/server.log" >&2
tail -n 50 "$state_dir/server.log" >&2 || true
exit 1
