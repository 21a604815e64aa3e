import math

import pytest
import torch

from remul.actions import GroupAction
from remul.groups import make_group, sample_so3
from remul.metrics import equivariance_errors
from remul.testing import assert_equivariant

DT = torch.float64


def _act(g, x):  # point clouds (B, N, 3)
    return torch.einsum("bij,bnj->bni", g, x)


def _reference(f, x, g):
    """Independent per-sample loop: g (M, B, 3, 3)."""
    M, B = g.shape[:2]
    e, ep = 0.0, 0.0
    for b in range(B):
        fx = f(x[b : b + 1])[0]
        avg_fgx = torch.zeros_like(fx)
        avg_gfx = torch.zeros_like(fx)
        norms = 0.0
        for m in range(M):
            R = g[m, b]
            fgx = f((x[b] @ R.T)[None])[0]
            gfx = fx @ R.T
            avg_fgx += fgx / M
            avg_gfx += gfx / M
            norms += (fgx - gfx).norm().item() / M
        e += (avg_fgx - avg_gfx).norm().item() / B
        ep += norms / B
    return e, ep


def test_linear_map_matches_independent_high_M():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(3, 3, generator=gen, dtype=DT)
    f = lambda x: x @ A.T  # noqa: E731
    x = torch.randn(4, 5, 3, generator=gen, dtype=DT)
    M = 4000
    got = equivariance_errors(f, x, _act, _act, sample_so3, M=M,
                              generator=torch.Generator().manual_seed(1), chunk_size=3000)
    # independent: same rotations, drawn the same way, by an explicit loop at high M
    g = sample_so3(M * 4, generator=torch.Generator().manual_seed(1), dtype=DT).view(M, 4, 3, 3)
    e, ep = _reference(f, x, g)
    assert got["E_prime"] == pytest.approx(ep, rel=1e-9)
    assert got["E"] == pytest.approx(e, rel=1e-9)
    # and E' is the Haar expectation: independent rotations (QR) at high M agree to MC error
    from helpers import random_rotation
    g2 = random_rotation(M * 4, seed=5).view(M, 4, 3, 3)
    _, ep2 = _reference(f, x, g2)
    assert got["E_prime"] == pytest.approx(ep2, rel=0.05)
    assert got["E_prime"] > 0.1


def test_equivariant_function_is_zero_in_float64():
    def f(x):  # x - mean + |x| scaling: rotation-equivariant
        c = x - x.mean(1, keepdim=True)
        return c * c.norm(dim=-1, keepdim=True)

    x = torch.randn(6, 4, 3, dtype=DT)
    out = equivariance_errors(f, x, _act, _act, sample_so3, M=50,
                              generator=torch.Generator().manual_seed(0))
    assert out["E"] < 1e-10 and out["E_prime"] < 1e-10


def test_constant_function_gives_expected_value():
    c = torch.tensor([[1.0, 2.0, 2.0]], dtype=DT)  # |c| = 3
    f = lambda x: c.expand(x.shape[0], 1, 3)  # noqa: E731
    x = torch.randn(2, 1, 3, dtype=DT)
    out = equivariance_errors(f, x, _act, _act, sample_so3, M=20000,
                              generator=torch.Generator().manual_seed(0))
    # E = |c - mean_g(g) c| -> |c| = 3 as M grows (E[g] = 0 under Haar)
    assert out["E"] == pytest.approx(3.0, rel=0.02)
    # E' = E|c - g c| = |c| E[2 sin(theta/2) * |sin(phi)|]-type integral; check against MC bounds:
    # E|c - gc|^2 = 2|c|^2, so E' <= sqrt(18) and E' > E
    assert out["E"] < out["E_prime"] <= math.sqrt(18) + 1e-9


def test_batched_equals_chunked_and_dict_inputs():
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(6, 3, generator=gen, dtype=DT)

    def f(b):
        return torch.cat([b["x"], b["v"]], -1) @ W

    b = {"x": torch.randn(5, 3, 3, dtype=DT), "v": torch.randn(5, 3, 3, dtype=DT)}
    act = GroupAction()
    kw = dict(M=30, generator=None)
    a = equivariance_errors(f, b, act.act_in, act.act_out, sample_so3,
                            **{**kw, "generator": torch.Generator().manual_seed(2)})
    c = equivariance_errors(f, b, act.act_in, act.act_out, sample_so3, chunk_size=7,
                            **{**kw, "generator": torch.Generator().manual_seed(2)})
    assert a["E"] == pytest.approx(c["E"], rel=1e-12)
    assert a["E_prime"] == pytest.approx(c["E_prime"], rel=1e-12)


def test_M_must_be_positive():
    with pytest.raises(ValueError, match="M"):
        equivariance_errors(lambda x: x, torch.zeros(1, 1, 3), _act, _act, sample_so3, M=0)


def test_assert_equivariant_flags_a_non_equivariant_model():
    from remul.models import build_model
    from remul.tasks.base import TaskSpec

    model = build_model({"name": "mlp", "hidden": 16, "layers": 1}, TaskSpec(4, 1))
    torch.nn.init.normal_(model.head.weight)
    batch = {"x": torch.randn(3, 4, 3), "v": torch.randn(3, 4, 3), "h": torch.rand(3, 4, 1)}
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(model, batch)
    # the same check passes on the angle-0 "group": only the identity
    rep = assert_equivariant(model, batch, group={"name": "angle_range", "high_deg": 0.0})
    assert rep["translation"] < 1e-9
    assert make_group("so3")(1).shape == (1, 3, 3)
