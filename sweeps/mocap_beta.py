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

from ray import tune  # noqa: E402

from remul.tune import scripts  # noqa: E402

BETAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]

SPACE = {
    "mode": tune.grid_search(["constant", "augmentation", "none"]),
    "beta": tune.grid_search(BETAS),  # only varies under constant (REMUL)
    "model": {"name": "transformer"},
}


def main(argv=None) -> int:
    args = scripts.parser(__doc__, task="mocap_walk").parse_args(argv)
    space = dict(SPACE)
    if args.smoke:
        space = scripts.smoke_space(args.task, space)
        space["beta"] = tune.grid_search([0.01, 1.0])
        space["mode"] = tune.grid_search(["constant", "augmentation"])
    return scripts.run(args, args.task, space, search="grid",
                       experiment=args.experiment or f"{args.task}-beta")


if __name__ == "__main__":
    sys.exit(main())
