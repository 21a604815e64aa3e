"""GradNorm against constant weighting: a multi-objective Optuna search over the mode, beta and
(for GradNorm only) gamma and eta. The frontier shows which weighting reaches better trade-offs.

    python sweeps/gradnorm_vs_constant.py [--task nbody] [--num-samples 16] [--smoke]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from ray import tune  # noqa: E402

from remul.tune import scripts  # noqa: E402

SPACE = {
    "mode": tune.choice(["constant", "gradnorm"]),
    "beta": tune.loguniform(1e-3, 1e2),
    "gamma": tune.uniform(0.0, 3.0),  # gradnorm only
    "eta": tune.loguniform(1e-3, 1e-1),  # gradnorm only
    "model": {"name": "transformer", "hidden": 32, "blocks": 2, "heads": 2},
    "epochs": 40,
    "lr": 1e-3,
}


def main(argv=None) -> int:
    args = scripts.parser(__doc__, task="nbody").parse_args(argv)
    space = scripts.task_space(args, SPACE)
    return scripts.run(args, args.task, space, search="optuna",
                       num_samples=args.num_samples or (4 if args.smoke else 16),
                       experiment=args.experiment or f"{args.task}-gradnorm-vs-constant")


if __name__ == "__main__":
    sys.exit(main())
