"""N-body gravity, faithful to GATr's generator, with the REMUL paper's rotation protocol.

One star (mass log-uniform in [1, 10], at the origin, at rest) and ``n_planets`` planets (masses
log-uniform in [0.01, 0.1]) placed uniformly in the x-y annulus r in [0.1, 1.0], moving on circular
orbits of random orientation plus N(0, 0.01) velocity noise. Bodies are permuted, the state is
rotated, then evolved with G = 1, no softening, 100 semi-implicit Euler steps of dt = 0.001.
Samples in which any body moves more than 2.0 are rejected.

Rotation protocol (REMUL): train/val/test states are rotated by angles in [-10, 10] degrees about
a uniform axis; the OOD split by angles of magnitude in [90, 180] degrees. REMUL and augmentation
train with rotations from the in-distribution range (``train_group``); E and E' are measured on
Haar-random SO(3) (``eval_group``).

Inputs per body: ``h`` = [m] (B, N, 1), ``x`` (B, N, 3), ``v`` (B, N, 3); ``mass`` (B, N)
weights the centre of mass. Target ``y``: final positions (B, N, 3). Loss: MSE.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from remul.groups import make_group
from remul.tasks import register_task
from remul.tasks.base import Splits, Task

SIM_DEFAULTS = {
    "n_planets": 3,
    "star_mass_range": (1.0, 10.0),
    "planet_mass_range": (0.01, 0.1),
    "radius_range": (0.1, 1.0),
    "vel_std": 0.01,
    "time_steps": 100,
    "dt": 0.001,
    "outlier_threshold": 2.0,
}


def accelerations(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Newtonian accelerations (B, N, 3) for masses m (B, N) at x (B, N, 3), G = 1, no softening."""
    d = x[:, None, :, :] - x[:, :, None, :]  # (B, i, j, 3): x_j - x_i
    r = d.norm(dim=-1, keepdim=True)
    r = torch.where(r < 1e-9, torch.ones_like(r), r)  # self-interaction: d = 0 anyway
    return (d * m[:, None, :, None] / r**3).sum(dim=2)


def simulate(
    m: torch.Tensor, x: torch.Tensor, v: torch.Tensor, time_steps: int = 100, dt: float = 0.001
) -> tuple[torch.Tensor, torch.Tensor]:
    """Semi-implicit Euler: v += dt a(x); x += dt v. Returns final (x, v), each (B, N, 3)."""
    for _ in range(time_steps):
        v = v + dt * accelerations(m, x)
        x = x + dt * v
    return x, v


def _log_uniform(lo, hi, shape, gen) -> torch.Tensor:
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    return torch.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))


def sample_initial_states(n: int, gen: torch.Generator, p: dict = SIM_DEFAULTS):
    """Unrotated initial states: m (n, N), x (n, N, 3), v (n, N, 3), float64; N = 1 + planets."""
    k = p["n_planets"]
    star = _log_uniform(*p["star_mass_range"], (n, 1), gen)
    planets = _log_uniform(*p["planet_mass_range"], (n, k), gen)
    m = torch.cat([star, planets], dim=1)
    rmin, rmax = p["radius_range"]
    u = torch.rand(n, k, generator=gen, dtype=torch.float64)
    r = torch.sqrt(rmin**2 + u * (rmax**2 - rmin**2))  # uniform in the annulus' area
    phi = torch.rand(n, k, generator=gen, dtype=torch.float64) * 2 * np.pi
    pos = torch.stack([r * torch.cos(phi), r * torch.sin(phi), torch.zeros_like(r)], dim=-1)
    sign = torch.where(torch.rand(n, k, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
    orient = torch.zeros(n, k, 3, dtype=torch.float64)
    orient[..., 2] = sign
    v_circ = torch.cross(orient, pos, dim=-1) * star[..., None] ** 0.5 / r[..., None] ** 1.5
    vel = v_circ + p["vel_std"] * torch.randn(n, k, 3, generator=gen, dtype=torch.float64)
    x = torch.cat([torch.zeros(n, 1, 3, dtype=torch.float64), pos], dim=1)
    v = torch.cat([torch.zeros(n, 1, 3, dtype=torch.float64), vel], dim=1)
    # permute bodies per sample, as GATr does
    perm = torch.argsort(torch.rand(n, k + 1, generator=gen), dim=1)
    m = torch.gather(m, 1, perm)
    x = torch.gather(x, 1, perm[..., None].expand(-1, -1, 3))
    v = torch.gather(v, 1, perm[..., None].expand(-1, -1, 3))
    return m, x, v


def generate(n: int, rotation_group: dict, gen: torch.Generator, p: dict = SIM_DEFAULTS) -> dict:
    """n accepted samples as float64 numpy arrays {m, x, v, y}; rotated by ``rotation_group``."""
    sampler = make_group(rotation_group, "rotation_group")
    out: dict[str, list] = {"m": [], "x": [], "v": [], "y": []}
    have = 0
    while have < n:
        cand = int(round(1.1 * (n - have))) + 4
        m, x, v = sample_initial_states(cand, gen, p)
        g = sampler(cand, generator=gen, dtype=torch.float64)
        x = torch.einsum("bij,bnj->bni", g, x)
        v = torch.einsum("bij,bnj->bni", g, v)
        y, _ = simulate(m, x, v, p["time_steps"], p["dt"])
        keep = (y - x).norm(dim=-1).amax(dim=-1) <= p["outlier_threshold"]
        for key, t in (("m", m), ("x", x), ("v", v), ("y", y)):
            out[key].append(t[keep])
        have += int(keep.sum())
    return {k: torch.cat(t)[:n].numpy() for k, t in out.items()}


def cache_dir() -> Path:
    root = os.environ.get("REMUL_DATA_DIR") or os.path.join(Path.home(), ".cache", "remul")
    return Path(root) / "nbody"


def _to_batch(arrs: dict) -> dict[str, torch.Tensor]:
    m = torch.as_tensor(arrs["m"], dtype=torch.float32)
    return {
        "x": torch.as_tensor(arrs["x"], dtype=torch.float32),
        "v": torch.as_tensor(arrs["v"], dtype=torch.float32),
        "h": m[..., None],
        "mass": m,
        "y": torch.as_tensor(arrs["y"], dtype=torch.float32),
    }


class NBodyTask(Task):
    def __init__(self):
        super().__init__(
            name="nbody",
            train_group={"name": "angle_range", "low_deg": 0.0, "high_deg": 10.0,
                         "symmetric": True},
            eval_group={"name": "so3"},
            data_defaults={
                "n_train": 100, "n_val": 5000, "n_test": 5000, "n_ood": 5000,
                "n_planets": 3, "id_angle_deg": 10.0, "ood_angle_deg": [90.0, 180.0],
                "seed": 0, "cache": True,
            },
            config_defaults={
                "model": {"name": "transformer"}, "batch_size": 64, "lr": 3e-4, "epochs": 500,
            },
            eval_splits=("ood",),
        )

    def load(self, data: dict, seed: int = 0) -> Splits:
        """Generate (or read from the on-disk cache) the four splits; ``seed`` is unused:
        the data's own seed is ``data["seed"]``, so every trial of a sweep sees the same data."""
        p = dict(SIM_DEFAULTS, n_planets=int(data["n_planets"]))
        lo, hi = data["ood_angle_deg"]
        groups = {
            "id": {"name": "angle_range", "low_deg": 0.0, "high_deg": float(data["id_angle_deg"]),
                   "symmetric": True},
            "ood": {"name": "angle_range", "low_deg": float(lo), "high_deg": float(hi),
                    "symmetric": True},
        }
        sizes = {s: int(data[f"n_{s}"]) for s in ("train", "val", "test", "ood")}
        for s, n in sizes.items():
            if n < 1:
                raise ValueError(f"data.n_{s}: must be >= 1, got {n}")
        key = json.dumps({"p": p, "groups": groups, "sizes": sizes, "seed": data["seed"],
                          "v": 1}, sort_keys=True)
        path = cache_dir() / f"nbody-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if data.get("cache", True) and path.exists():
            with np.load(path, allow_pickle=False) as z:
                flat = {k: z[k] for k in z.files}
            return {s: _to_batch({k: flat[f"{s}/{k}"] for k in "mxvy"}) for s in sizes}
        flat = {}
        for i, (s, n) in enumerate(sizes.items()):
            gen = torch.Generator().manual_seed(int(data["seed"]) * 1000 + i)
            arrs = generate(n, groups["ood" if s == "ood" else "id"], gen, p)
            flat.update({f"{s}/{k}": a for k, a in arrs.items()})
        if data.get("cache", True):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **flat)
            os.replace(tmp, path)
        return {s: _to_batch({k: flat[f"{s}/{k}"] for k in "mxvy"}) for s in sizes}

    def baselines(self, splits: Splits) -> dict[str, float]:
        """Zero motion (y = x) and constant velocity (y = x + v T) on the test split."""
        t = splits["test"]
        T = SIM_DEFAULTS["time_steps"] * SIM_DEFAULTS["dt"]
        return {
            "zero_motion_mse": float(((t["x"] - t["y"]) ** 2).mean()),
            "constant_velocity_mse": float(((t["x"] + T * t["v"] - t["y"]) ** 2).mean()),
        }


register_task("nbody", NBodyTask)
