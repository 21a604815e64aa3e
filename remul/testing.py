"""Equivariance test helpers, in the spirit of e3nn's ``assert_equivariant``.

``assert_equivariant(model, batch)`` checks, in float64 by default, that a model commutes with
rotations (E' from :func:`remul.metrics.equivariance_errors`) and with translations of the
positions, and raises ``AssertionError`` with the measured error otherwise.
"""

from __future__ import annotations

import copy

import torch

from remul.actions import Batch, GroupAction, inputs_of
from remul.groups import make_group
from remul.metrics import equivariance_errors

#: Absolute tolerances on E' per dtype.
TOLERANCES = {torch.float64: 1e-9, torch.float32: 1e-4}


def equivariance_report(
    model: torch.nn.Module,
    batch: Batch,
    action: GroupAction | None = None,
    group: dict | str = "so3",
    M: int = 8,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    translation_keys: tuple[str, ...] = ("x",),
) -> dict[str, float]:
    """{"E", "E_prime", "translation"} of a copy of ``model`` cast to ``dtype``."""
    action = action or GroupAction()
    model = copy.deepcopy(model).to(dtype).eval()
    x = {k: (t.to(dtype) if t.is_floating_point() else t) for k, t in
         inputs_of(batch, action.target_key).items()}
    gen = torch.Generator(device=next(iter(x.values())).device).manual_seed(seed)
    errs = equivariance_errors(
        model, x, action.act_in, action.act_out, make_group(group), M=M, generator=gen
    )
    with torch.no_grad():
        shift = torch.randn(x["x"].shape[0], 1, 3, generator=gen, dtype=dtype,
                           device=x["x"].device) * 3.0
        xt = dict(x)
        for k in translation_keys:
            xt[k] = x[k] + shift
        errs["translation"] = float((model(xt) - (model(x) + shift)).abs().max())
    return errs


def assert_equivariant(
    model: torch.nn.Module,
    batch: Batch,
    action: GroupAction | None = None,
    group: dict | str = "so3",
    M: int = 8,
    dtype: torch.dtype = torch.float64,
    atol: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Assert E' and the translation error are below ``atol`` (default: per-dtype tolerance).

    Returns the report so a caller can log it.
    """
    atol = TOLERANCES.get(dtype, 1e-4) if atol is None else atol
    rep = equivariance_report(model, batch, action, group, M, dtype, seed)
    if not (rep["E_prime"] <= atol and rep["translation"] <= atol):
        raise AssertionError(
            f"model is not equivariant to {atol:g} in {dtype}: E'={rep['E_prime']:.3e}, "
            f"E={rep['E']:.3e}, translation error={rep['translation']:.3e}"
        )
    return rep
