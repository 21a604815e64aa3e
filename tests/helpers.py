"""Shared test helpers: tiny configs and reference computations."""

from __future__ import annotations

import torch

TINY_DATA = {"n_train": 64, "n_val": 64, "n_test": 64, "n_ood": 64}


def tiny_config(**overrides) -> dict:
    """A config that trains in about a second on one CPU core."""
    cfg = {
        "model": {"name": "mlp", "hidden": 32, "layers": 2},
        "data": dict(TINY_DATA),
        "batch_size": 32,
        "epochs": 2,
        "metrics": {"M": 8, "n_samples": 16},
    }
    cfg.update(overrides)
    return cfg


def random_rotation(n: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    """Haar rotations via QR, independent of remul.groups (for cross-checks)."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, 3, 3, generator=gen, dtype=dtype)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    det = torch.linalg.det(q)
    q[:, :, 0] *= det[:, None]
    return q
