"""MD17 (aspirin): the beta sweep of REMUL (constant weighting), with augmentation and a
plain model.

Needs the task from the dataset issue (remul.tasks.md17); until it is installed the script says
what is missing and exits with status 3. On a cluster:

    ray submit cluster/gpu.yaml sweeps/md17_beta.py --address auto --gpus-per-trial 0.5

    python sweeps/md17_beta.py [--task md17_aspirin] [--smoke]
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
    return scripts.beta_sweep(__doc__, "md17_aspirin", FIXED, argv, smoke_betas=[0.01, 1.0])


if __name__ == "__main__":
    sys.exit(main())
