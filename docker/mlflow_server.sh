#!/usr/bin/env bash
# Entry point of the mlflow-server image (docker/compose.yaml): create the artifact bucket on the
# S3-compatible store if it is missing, then run `mlflow server` with the given arguments.
#   MLFLOW_BUCKET           bucket to create (skipped when unset)
#   MLFLOW_S3_ENDPOINT_URL  the store (e.g. http://minio:9000); credentials from AWS_* variables
set -euo pipefail
if [ -n "${MLFLOW_BUCKET:-}" ]; then
    python - <<'PY'
import os, time
import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

s3 = boto3.client("s3", endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL"))
bucket = os.environ["MLFLOW_BUCKET"]
for attempt in range(30):
    try:
        s3.head_bucket(Bucket=bucket)
        break
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
            s3.create_bucket(Bucket=bucket)
            print(f"mlflow_server.sh: created bucket {bucket}", flush=True)
            break
        raise
    except EndpointConnectionError:
        time.sleep(2)
else:
    raise SystemExit("mlflow_server.sh: object store not reachable")
PY
fi
exec mlflow server "$@"
