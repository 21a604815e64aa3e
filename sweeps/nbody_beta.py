"""N-body: the paper's beta sweep (REMUL constant weighting over beta), with augmentation and a
plain model for reference, on a small Transformer. Grid search; the frontier of
(val task error, val equivariance error) is printed and logged to MLflow.

    python sweeps/nbody_beta.py            # main job: 8 trials, ~2.5 min on 2 idle CPU cores
    python sweeps/nbody_beta.py --smoke    # seconds, for tests
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from remul.tune import scripts  # noqa: E402

FIXED = {
    "model": {"name": "transformer", "hidden": 64, "blocks": 2, "heads": 4},
    "epochs": 250,
    "batch_size": 100,
    "lr": 1e-3,
    "metrics": {"M": 50, "n_samples": 100},
}


def main(argv=None) -> int:
    return scripts.beta_sweep(__doc__, "nbody", FIXED, argv, smoke_betas=[0.01, 1.0, 100.0])


if __name__ == "__main__":
    sys.exit(main())
