"""The one training function: ``train(task, config, callback) -> dict``. Plain torch.

It knows nothing of Ray or MLflow: a ``callback(metrics, checkpoint_dir)`` receives every epoch's
metrics (and the path of the checkpoint just written, if ``checkpoint_dir`` is set), then the
final result with ``"final": True``. The whole (small) dataset lives on the device as tensors.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from remul.actions import Batch, batch_size, index_batch, inputs_of
from remul.config import resolve_config
from remul.groups import make_group
from remul.losses import remul_losses
from remul.metrics import model_equivariance_errors
from remul.models import build_model
from remul.tasks import Task, get_task
from remul.tasks.base import Splits
from remul.weighting import make_weighting

CHECKPOINT_FILE = "checkpoint.pt"
Callback = Callable[[dict, "str | None"], None]


def pick_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to(batch: Batch, device) -> Batch:
    return {k: t.to(device) for k, t in batch.items()}


@torch.no_grad()
def evaluate_mse(model, batch: Batch, target_key: str = "y", chunk: int = 4096) -> float:
    """Mean squared error of the model on a whole split, in chunks."""
    model.eval()
    total, count = 0.0, 0
    n = batch_size(batch)
    for s in range(0, n, chunk):
        part = index_batch(batch, slice(s, s + chunk))
        y = part[target_key]
        pred = model(inputs_of(part, target_key))
        total += float(((pred - y) ** 2).sum())
        count += y.numel()
    model.train()
    return total / max(count, 1)


def _lr_lambda(cfg: dict, total_steps: int):
    warm = cfg["warmup_steps"]

    def f(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if cfg["lr_schedule"] == "constant":
            return 1.0
        t = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 0.5 * (1 + math.cos(math.pi * t))

    return f


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic write: a reader never sees a half-written checkpoint."""
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path / CHECKPOINT_FILE)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint directory (or file) written by :func:`save_checkpoint`, without pickle."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT_FILE
    if not p.exists():
        raise FileNotFoundError(f"resume_from: no checkpoint at {p}")
    return torch.load(p, map_location="cpu", weights_only=True)


def train(
    task: str | Task,
    config: dict | None = None,
    callback: Callback | None = None,
    *,
    splits: Splits | None = None,
) -> dict:
    """Train one model with REMUL and return its final metrics.

    Args:
        task: a task name (see :func:`remul.tasks.task_names`) or a Task.
        config: see :mod:`remul.config`; validated before any compute.
        callback: ``callback(metrics, checkpoint_dir)``, called after every epoch and at the end.
        splits: preloaded data, as ``task.load(config["data"], seed)`` would return it.

    Returns:
        val_mse, test_mse (and e.g. ood_mse), val_equi_error, val_equi_error_prime,
        equi_error, equi_error_prime (E, E' on test), train_seconds, n_params, epochs, steps,
        best_epoch, best_val_mse, alpha, beta, and the task's trivial baselines.
    """
    task = get_task(task) if isinstance(task, str) else task
    cfg = resolve_config(task, config)
    device = pick_device(cfg["device"])
    seed = cfg["seed"]
    torch.manual_seed(seed)

    if splits is None:
        splits = task.load(cfg["data"], seed)
    spec = task.spec(splits)
    data = {name: _to(b, device) for name, b in splits.items()}
    train_set = data["train"]
    n_train = batch_size(train_set)
    bs = min(cfg["batch_size"], n_train)
    steps_per_epoch = math.ceil(n_train / bs)
    total_steps = cfg["max_steps"] or cfg["epochs"] * steps_per_epoch
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    model = build_model(cfg["model"], spec).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, total_steps))
    weighting = make_weighting(cfg)
    action = task.action
    sampler = make_group(cfg["train_group"], "train_group")
    data_gen = torch.Generator().manual_seed(seed)
    group_gen = torch.Generator(device=device).manual_seed(seed + 1)

    start_epoch, step, train_seconds = 0, 0, 0.0
    best = {"val_mse": math.inf, "epoch": -1, "state": None, "bad": 0}
    if cfg["resume_from"]:
        ck = load_checkpoint(cfg["resume_from"])
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        weighting.load_state_dict(ck["weighting"])
        data_gen.set_state(ck["data_gen"])
        group_gen.set_state(ck["group_gen"].to(group_gen.get_state().device))
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, step, train_seconds = ck["epoch"] + 1, ck["step"], ck["train_seconds"]
        best = ck["best"]

    ckpt_dir = Path(cfg["checkpoint_dir"]) if cfg["checkpoint_dir"] else None
    model.train()
    stopped_early = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, n_epochs):
        if step >= total_steps:
            break
        t0 = time.perf_counter()
        perm = torch.randperm(n_train, generator=data_gen).to(device)
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, task, equi
        n_steps = 0
        for s in range(0, n_train, bs):
            if step >= total_steps:
                break
            batch = index_batch(train_set, perm[s : s + bs])
            l_task, l_equi = remul_losses(
                model, batch, action, sampler, cfg["n_group_samples"], cfg["equi_loss"],
                need_task=weighting.need_task, need_equi=weighting.need_equi, generator=group_gen,
            )
            loss = weighting.total(l_task, l_equi, model.last_layer_weight())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            opt.step()
            sched.step()
            step += 1
            n_steps += 1
            sums += torch.stack([loss.detach(), l_task.detach(), l_equi.detach()]).double()
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        metrics = {
            "epoch": epoch, "step": step,
            "train_loss": float(sums[0]) / max(n_steps, 1),
            "train_task_loss": float(sums[1]) / max(n_steps, 1),
            "train_equi_loss": float(sums[2]) / max(n_steps, 1),
            "alpha": weighting.alpha, "beta": weighting.beta,
            "lr": sched.get_last_lr()[0], "epoch_seconds": epoch_seconds,
        }
        last = epoch == n_epochs - 1 or step >= total_steps
        if (epoch + 1) % cfg["eval_every"] == 0 or last:
            val = evaluate_mse(model, data["val"], action.target_key)
            metrics["val_mse"] = val
            if not math.isfinite(val):
                stopped_early = True  # diverged: stop, keep the best model so far
            elif val < best["val_mse"]:
                best.update(val_mse=val, epoch=epoch, bad=0,
                            state=copy.deepcopy(model.state_dict()))
            else:
                best["bad"] += 1
            patience = cfg["early_stopping_patience"]
            if patience and best["bad"] >= patience:
                stopped_early = True
        if ckpt_dir is not None:
            save_checkpoint(ckpt_dir, {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "weighting": weighting.state_dict(),
                "data_gen": data_gen.get_state(), "group_gen": group_gen.get_state().cpu(),
                "torch_rng": torch.get_rng_state(), "epoch": epoch, "step": step,
                "train_seconds": train_seconds, "best": best,
            })
        if callback is not None:
            callback(metrics, str(ckpt_dir) if ckpt_dir is not None else None)
        if stopped_early:
            break

    if best["state"] is not None:
        model.load_state_dict(best["state"])
    result = final_metrics(model, task, data, cfg)
    result.update({
        "train_seconds": train_seconds, "n_params": n_params, "steps": step,
        "epochs": epoch + 1,
        "best_epoch": best["epoch"], "best_val_mse": best["val_mse"],
        "stopped_early": stopped_early,
        "alpha": weighting.alpha, "beta": weighting.beta,
    })
    result.update(task.baselines(splits))
    if callback is not None:
        callback({**result, "final": True}, None)
    return result


def final_metrics(model, task: Task, data: Splits, cfg: dict) -> dict:
    """Task errors on every evaluation split, and E, E' on val and test subsets."""
    out = {}
    for name in ("val", "test", *task.eval_splits):
        if name in data:
            out[f"{name}_mse"] = evaluate_mse(model, data[name], task.action.target_key)
    m = cfg["metrics"]
    for name, prefix in (("val", "val_"), ("test", "")):
        sub = index_batch(data[name], slice(0, m["n_samples"]))
        gen = torch.Generator(device=sub["x"].device).manual_seed(cfg["seed"] + 7)
        errs = model_equivariance_errors(
            model, task, sub, M=m["M"], generator=gen, group=cfg["eval_group"],
            chunk_size=m["chunk_size"],
        )
        out[f"{prefix}equi_error"] = errs["E"]
        out[f"{prefix}equi_error_prime"] = errs["E_prime"]
    return out
