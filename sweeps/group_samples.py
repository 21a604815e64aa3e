"""How many transformed copies per input in L_equi: a grid over n_group_samples (and beta) with
constant weighting.

    python sweeps/group_samples.py [--task nbody] [--smoke]
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
    "mode": "constant",
    "n_group_samples": tune.grid_search([1, 2, 4, 8]),
    "beta": tune.grid_search([0.1, 1.0, 10.0]),
    "model": {"name": "transformer", "hidden": 32, "blocks": 2, "heads": 2},
    "epochs": 40,
    "lr": 1e-3,
}


def main(argv=None) -> int:
    args = scripts.parser(__doc__, task="nbody").parse_args(argv)
    space = scripts.task_space(args, SPACE)
    if args.smoke:
        space["n_group_samples"] = tune.grid_search([1, 4])
        space["beta"] = tune.grid_search([1.0])
    return scripts.run(args, args.task, space, search="grid",
                       experiment=args.experiment or f"{args.task}-group-samples")


if __name__ == "__main__":
    sys.exit(main())
