"""Command line: ``remul train | data | tune | frontier | ui``.

Sub-commands of optional parts register themselves through a ``register(subparsers)`` function
in ``remul.data.cli`` and ``remul.tune.cli``; each sets ``func`` on its parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _set_nested(cfg: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    d = cfg
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def _cmd_train(args) -> int:
    from remul.train import train

    config: dict = {}
    if args.config:
        with open(args.config) as fh:
            config = json.load(fh)
    for item in args.set or []:
        if "=" not in item:
            raise SystemExit(f"--set: expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        _set_nested(config, k, _parse_value(v))
    for key in ("mode", "alpha", "beta", "gamma", "eta", "n_group_samples", "lr", "batch_size",
                "epochs", "max_steps", "seed", "device", "checkpoint_dir", "resume_from"):
        val = getattr(args, key)
        if val is not None:
            config[key] = val
    if args.model:
        config.setdefault("model", {})["name"] = args.model

    def progress(metrics, checkpoint=None):
        if metrics.get("final"):
            return
        keys = ("epoch", "step", "train_loss", "val_mse", "alpha", "beta")
        line = "  ".join(
            f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}"
            for k in keys if k in metrics
        )
        print(line, file=sys.stderr, flush=True)

    result = train(args.task, config, callback=progress if not args.quiet else None)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="remul", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one model and print the final metrics as JSON")
    t.add_argument("--task", required=True, help="task name, e.g. nbody, mocap_walk, md17_aspirin")
    t.add_argument("--model", help="model name: transformer, mlp, gnn, egnn")
    t.add_argument("--mode", help="constant | gradnorm | augmentation | none")
    for key, typ in (("alpha", float), ("beta", float), ("gamma", float), ("eta", float),
                     ("n-group-samples", int), ("lr", float), ("batch-size", int),
                     ("epochs", int), ("max-steps", int), ("seed", int)):
        t.add_argument(f"--{key}", type=typ)
    t.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    t.add_argument("--checkpoint-dir", help="write a checkpoint every epoch here")
    t.add_argument("--resume-from", help="resume from this checkpoint directory")
    t.add_argument("--config", help="JSON file with a config dict")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="set a config key (dotted for nested, JSON values), e.g. model.blocks=2")
    t.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    t.set_defaults(func=_cmd_train)
    for mod in ("remul.data.cli", "remul.tune.cli"):
        try:
            importlib.import_module(mod).register(sub)
        except ModuleNotFoundError as err:
            if err.name not in (mod, mod.rsplit(".", 1)[0]):
                raise
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as err:
        print(f"remul: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
