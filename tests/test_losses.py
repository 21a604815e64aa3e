import torch
import torch.nn.functional as F

from remul.actions import GroupAction
from remul.groups import make_group
from remul.losses import remul_losses


def _model(b):
    return b["x"] * 2.0 + b["v"] + b["h"]


def _batch(B=5, N=3):
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(B, N, 3 if k != "h" else 1, generator=g) for k in "xvhy"}


def test_one_forward_equals_separate_passes():
    b = _batch()
    act, sampler = GroupAction(), make_group("so3")
    k = 3
    lt, le = remul_losses(_model, b, act, sampler, k, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(lt, F.mse_loss(_model(b), b["y"]))
    # the same rotations, drawn the same way, applied one copy at a time
    g = sampler(k * 5, generator=torch.Generator().manual_seed(1))
    losses = []
    for c in range(k):
        gc = g[c * 5 : (c + 1) * 5]
        tb = act.act_batch(gc, b)
        losses.append(F.mse_loss(_model(tb), tb["y"]))
    assert torch.allclose(le, torch.stack(losses).mean(), atol=1e-6)


def test_fresh_rotations_each_call_and_skipping():
    b = _batch()
    act, sampler = GroupAction(), make_group("so3")
    gen = torch.Generator().manual_seed(0)
    _, a = remul_losses(_model, b, act, sampler, 1, generator=gen)
    _, c = remul_losses(_model, b, act, sampler, 1, generator=gen)
    assert a != c
    lt, le = remul_losses(_model, b, act, sampler, 1, need_equi=False)
    assert le == 0 and lt > 0
    lt, le = remul_losses(_model, b, act, sampler, 1, loss="l1", need_task=False)
    assert lt == 0 and le > 0
