"""Learned-equivariance metrics E (paper Eq. 12) and E' (Eq. 13), Monte-Carlo over M group samples.

For each input x_b and M rotations g_1..g_M (drawn independently per input):

    E  = mean_b || (1/M) sum_m f(g_m . x_b)  -  (1/M) sum_m g_m . f(x_b) ||
    E' = mean_b (1/M) sum_m || f(g_m . x_b) - g_m . f(x_b) ||

where || . || is the Frobenius norm of one sample's output (N x 3 for point clouds). E <= E'
(triangle inequality), and both vanish for an equivariant f. The M*B transformed inputs go
through f in as few forward passes as ``chunk_size`` allows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from remul.actions import Batch


def _repeat(x, k: int):
    if isinstance(x, dict):
        return {key: t.repeat(k, *([1] * (t.dim() - 1))) for key, t in x.items()}
    return x.repeat(k, *([1] * (x.dim() - 1)))


def _slice(x, sl):
    if isinstance(x, dict):
        return {key: t[sl] for key, t in x.items()}
    return x[sl]


def _size(x) -> int:
    return next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]


def _ref(x) -> torch.Tensor:
    return next(iter(x.values())) if isinstance(x, dict) else x


@torch.no_grad()
def equivariance_errors(
    f: Callable,
    x,
    act_in: Callable,
    act_out: Callable,
    sample_group: Callable,
    M: int = 100,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """E and E' of ``f`` on the inputs ``x`` (a tensor (B, ...) or a batch dict).

    Args:
        f: maps inputs (B', ...) to outputs (B', ...).
        act_in: ``act_in(g, x)`` with g (B', 3, 3) acting row-wise on inputs.
        act_out: ``act_out(g, y)`` acting row-wise on outputs.
        sample_group: ``sample_group(n, generator=, dtype=, device=) -> (n, 3, 3)``.
        M: group samples per input (>= 1).
        chunk_size: most transformed inputs per forward pass (default: all M*B at once).
    """
    if not isinstance(M, int) or M < 1:
        raise ValueError(f"M: must be an integer >= 1, got {M!r}")
    B = _size(x)
    ref = _ref(x)
    fx = f(x)  # (B, ...)
    g = sample_group(M * B, generator=generator, dtype=ref.dtype, device=ref.device)
    chunk = chunk_size or M * B
    sum_fgx = torch.zeros_like(fx, dtype=torch.float64)
    sum_gfx = torch.zeros_like(fx, dtype=torch.float64)
    sum_norm = torch.zeros(B, dtype=torch.float64, device=fx.device)
    # rows are copy-major: row r is input r % B under g[r]
    for start in range(0, M * B, chunk):
        stop = min(start + chunk, M * B)
        idx = torch.arange(start, stop, device=fx.device) % B
        xs = _slice(x, idx)
        gs = g[start:stop]
        fgx = f(act_in(gs, xs))
        gfx = act_out(gs, fx[idx])
        diff = (fgx - gfx).reshape(stop - start, -1).to(torch.float64)
        sum_norm.index_add_(0, idx, diff.norm(dim=1))
        sum_fgx.index_add_(0, idx, fgx.to(torch.float64))
        sum_gfx.index_add_(0, idx, gfx.to(torch.float64))
    e = ((sum_fgx - sum_gfx) / M).reshape(B, -1).norm(dim=1).mean()
    e_prime = (sum_norm / M).mean()
    return {"E": float(e), "E_prime": float(e_prime)}


def model_equivariance_errors(
    model: torch.nn.Module,
    task,
    batch: Batch,
    M: int = 100,
    generator: torch.Generator | None = None,
    group: dict | None = None,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """E, E' of a model on a task's batch (the target, if present, is ignored).

    The group is ``group`` or the task's ``eval_group``; the action is the task's.
    """
    from remul.actions import inputs_of
    from remul.groups import make_group

    action = task.action
    sampler = make_group(group or task.eval_group, "eval_group")
    was_training = model.training
    model.eval()
    try:
        return equivariance_errors(
            model, inputs_of(batch, action.target_key), action.act_in, action.act_out, sampler,
            M=M, generator=generator, chunk_size=chunk_size,
        )
    finally:
        model.train(was_training)
