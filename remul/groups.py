"""Rotation groups: vectorised, seeded samplers of 3x3 rotation matrices.

Every sampler has the signature ``sampler(n, generator=None, dtype=float32, device=cpu)`` and
returns a tensor of shape (n, 3, 3) with ``R @ R.T = I`` and ``det R = +1``. Translations are not
sampled: models remove them by centring on the centre of mass (see :mod:`remul.actions`).

Group specs are plain dicts so they travel through configs and search spaces:

- ``{"name": "so3"}``: Haar-random SO(3).
- ``{"name": "angle_range", "low_deg": a, "high_deg": b, "symmetric": True}``: uniform axis,
  angle uniform in [a, b]; with ``symmetric`` the sign is random, i.e. angle in [-b, -a] U [a, b].
- ``{"name": "so2", "axis": [0, 0, 1]}``: rotations about a fixed axis, angle uniform in [0, 2 pi).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

GroupSampler = Callable[..., torch.Tensor]

GROUP_NAMES = ("so3", "angle_range", "so2")


def _uniform(n: int, generator, dtype, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=dtype, device=device)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4) as (w, x, y, z) -> rotation matrices (..., 3, 3)."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def axis_angle_to_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: axis (..., 3) (normalised here), angle (...) in rad -> (..., 3, 3)."""
    axis = axis / axis.norm(dim=-1, keepdim=True)
    half = angle / 2
    q = torch.cat([torch.cos(half)[..., None], torch.sin(half)[..., None] * axis], dim=-1)
    return quaternion_to_matrix(q)


def sample_so3(n: int, generator=None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Haar-random rotations (n, 3, 3): normalised Gaussian quaternions are uniform on S^3."""
    q = torch.randn(n, 4, generator=generator, dtype=torch.float64, device=device)
    return quaternion_to_matrix(q).to(dtype)


def sample_angle_range(
    n: int,
    low_deg: float,
    high_deg: float,
    symmetric: bool = True,
    generator=None,
    dtype=torch.float32,
    device=None,
) -> torch.Tensor:
    """Rotations about a uniform random axis by an angle uniform in [low, high] degrees.

    With ``symmetric=True`` the angle's sign is random: angle in [-high, -low] U [low, high].
    """
    axis = torch.randn(n, 3, generator=generator, dtype=torch.float64, device=device)
    u = _uniform(n, generator, torch.float64, device)
    angle = math.radians(low_deg) + u * math.radians(high_deg - low_deg)
    if symmetric:
        sign = torch.where(_uniform(n, generator, torch.float64, device) < 0.5, -1.0, 1.0)
        angle = angle * sign
    return axis_angle_to_matrix(axis, angle).to(dtype)


def sample_so2(
    n: int,
    axis: Sequence[float] = (0.0, 0.0, 1.0),
    generator=None,
    dtype=torch.float32,
    device=None,
) -> torch.Tensor:
    """Rotations about the fixed ``axis`` (mocap: the gravity axis), angle in [0, 2pi)."""
    ax = torch.as_tensor(axis, dtype=torch.float64, device=device).expand(n, 3)
    angle = _uniform(n, generator, torch.float64, device) * (2 * math.pi)
    return axis_angle_to_matrix(ax, angle).to(dtype)


def validate_group_spec(spec: dict, field: str = "group") -> dict:
    """Check a group spec, naming ``field`` and the allowed values on error. Returns a copy."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"{field}: expected a dict with a 'name' in {GROUP_NAMES}, got {spec!r}")
    spec = dict(spec)
    name = spec["name"]
    allowed = {
        "so3": set(),
        "angle_range": {"low_deg", "high_deg", "symmetric"},
        "so2": {"axis"},
    }
    if name not in allowed:
        raise ValueError(f"{field}.name: unknown group {name!r}; allowed: {list(GROUP_NAMES)}")
    extra = set(spec) - {"name"} - allowed[name]
    if extra:
        raise ValueError(
            f"{field}: unknown key(s) {sorted(extra)} for group {name!r}; "
            f"allowed: {sorted(allowed[name])}"
        )
    if name == "angle_range":
        lo, hi = spec.get("low_deg", 0.0), spec.get("high_deg")
        if hi is None:
            raise ValueError(f"{field}.high_deg: required for group 'angle_range'")
        if not (math.isfinite(lo) and math.isfinite(hi)) or not 0 <= lo <= hi <= 180:
            raise ValueError(
                f"{field}: need 0 <= low_deg <= high_deg <= 180, got low_deg={lo}, high_deg={hi}"
            )
        spec.setdefault("low_deg", 0.0)
        spec.setdefault("symmetric", True)
    if name == "so2":
        axis = spec.setdefault("axis", [0.0, 0.0, 1.0])
        if len(axis) != 3 or not any(abs(a) > 0 for a in axis):
            raise ValueError(f"{field}.axis: need a non-zero 3-vector, got {axis!r}")
    return spec


def make_group(spec: dict | str, field: str = "group") -> GroupSampler:
    """Build a sampler ``(n, generator=None, dtype=float32, device=None) -> (n, 3, 3)``."""
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = validate_group_spec(spec, field)
    name = spec["name"]
    if name == "so3":
        return sample_so3
    if name == "angle_range":
        lo, hi, sym = spec["low_deg"], spec["high_deg"], spec["symmetric"]

        def sampler(n, generator=None, dtype=torch.float32, device=None):
            return sample_angle_range(n, lo, hi, sym, generator, dtype, device)

        return sampler
    axis = tuple(float(a) for a in spec["axis"])

    def so2_sampler(n, generator=None, dtype=torch.float32, device=None):
        return sample_so2(n, axis, generator, dtype, device)

    return so2_sampler


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """Rotation angle in radians (...,) of rotation matrices (..., 3, 3)."""
    tr = R.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.arccos(((tr - 1) / 2).clamp(-1.0, 1.0))
