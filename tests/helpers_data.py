"""Where the tests find the public data (read-only): ``$REMUL_TEST_DATA`` or
``<repo>/../shared/data``. Missing data skips the test with the reason, except under CI
(``CI=true``), where it fails: CI must run every data test."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("REMUL_TEST_DATA")
    cand = Path(env) if env else REPO.parent / "shared" / "data"
    return cand if (cand / "mocap").is_dir() else None


def require_shared_data() -> Path:
    d = shared_data_dir()
    if d is None:
        msg = ("public test data not found: set REMUL_TEST_DATA or put it in "
               f"{REPO.parent / 'shared' / 'data'}")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d


def toy_molecule_trajectory(n_frames: int, seed: int = 0, dtype=np.float64):
    """A physically sensible toy MD17 trajectory: an ethanol-like C-C-O chain with three H
    atoms interleaved, bonds near 1.4-1.5 A (H at 1.1 A), small harmonic bond vibrations, and a
    slow rigid rotation plus drift. Returns R (frames, 6, 3) and z (6,)."""
    rng = np.random.default_rng(seed)
    z = np.array([6, 1, 6, 1, 8, 1])
    eq = np.array([
        [0.00, 0.00, 0.00],   # C
        [-0.60, 0.90, 0.30],  # H on C0
        [1.50, 0.00, 0.00],   # C
        [1.90, -0.95, 0.40],  # H on C2
        [2.10, 1.25, 0.10],   # O
        [3.05, 1.20, 0.05],   # H on O
    ])
    t = np.arange(n_frames)[:, None, None]
    freq = rng.uniform(0.05, 0.2, size=(1, 6, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 6, 3))
    vib = 0.03 * np.sin(freq * t + phase)
    ang = 1e-4 * np.arange(n_frames)
    c, s = np.cos(ang), np.sin(ang)
    rot = np.zeros((n_frames, 3, 3))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, -s, s, c, 1.0
    centred = eq - eq.mean(0)
    R = np.einsum("tij,tnj->tni", rot, centred + vib) + 1e-5 * t * np.array([1.0, 0.5, 0.0])
    return R.astype(dtype), z


def write_md17(root: Path, molecule: str, R, z, split=None, name: str | None = None) -> Path:
    """Write ``root/md17/<name>`` (default md17_<molecule>.npz) and optionally its split."""
    d = root / "md17"
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name or f"md17_{molecule}.npz")
    np.savez(path, R=R, z=z, E=np.zeros(len(R)), F=np.zeros_like(R))
    if split is not None:
        (d / "splits").mkdir(exist_ok=True)
        with open(d / "splits" / f"{molecule}_split.pkl", "wb") as fh:
            pickle.dump(tuple(np.asarray(s, dtype=np.int64) for s in split), fh)
    return path
