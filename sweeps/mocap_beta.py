"""CMU motion capture (walking): the beta sweep of REMUL (constant weighting), with
augmentation and a plain model.

Needs the task from the dataset issue (remul.tasks.mocap); until it is installed the script says
what is missing and exits with status 3. On a cluster:

    ray submit cluster/gpu.yaml sweeps/mocap_beta.py --address auto --gpus-per-trial 0.5

    python sweeps/mocap_beta.py [--task mocap_walk] [--smoke]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from remul.tune import scripts  # noqa: E402

FIXED = {
    "model": {"name": "transformer"},
}


def main(argv=None) -> int:
    return scripts.beta_sweep(__doc__, "mocap_walk", FIXED, argv, smoke_betas=[0.01, 1.0])


if __name__ == "__main__":
    sys.exit(main())
