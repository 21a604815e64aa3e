"""The REMUL objectives (paper Eqs. 7-8), computed in one forward pass.

L_task = l(f(x), y) and L_equi = mean_{k, i} l(f(g_ik . x_i), g_ik . y_i), with a fresh g_ik for
each sample i and copy k = 1..n_group_samples at every call. The original batch and its k
transformed copies are concatenated and go through the model together.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from remul.actions import Batch, GroupAction, batch_size, concat_batches, repeat_batch

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
}


def transformed_copies(
    batch: Batch, action: GroupAction, sample_group, k: int, generator=None
) -> Batch:
    """k transformed copies (g . x, g . y) of the batch, (k*B, ...), one fresh g per row."""
    rep = repeat_batch(batch, k)
    ref = rep[action.target_key]
    g = sample_group(batch_size(rep), generator=generator, dtype=ref.dtype, device=ref.device)
    return action.act_batch(g, rep)


def remul_losses(
    model: Callable[[Batch], torch.Tensor],
    batch: Batch,
    action: GroupAction,
    sample_group,
    n_group_samples: int = 1,
    loss: str = "mse",
    need_task: bool = True,
    need_equi: bool = True,
    generator=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_task, L_equi) as scalars; a loss that is not needed is returned as a detached 0."""
    fn = LOSSES[loss]
    B = batch_size(batch)
    parts = []
    if need_task:
        parts.append(batch)
    if need_equi:
        parts.append(transformed_copies(batch, action, sample_group, n_group_samples, generator))
    full = dict(parts[0]) if len(parts) == 1 else concat_batches(parts)
    y = full.pop(action.target_key)
    pred = model(full)
    zero = pred.new_zeros(())
    l_task = fn(pred[:B], y[:B]) if need_task else zero
    off = B if need_task else 0
    l_equi = fn(pred[off:], y[off:]) if need_equi else zero
    return l_task, l_equi
