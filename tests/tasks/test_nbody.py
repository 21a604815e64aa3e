import torch
from helpers import random_rotation

from remul.tasks import get_task
from remul.tasks.nbody import SIM_DEFAULTS, generate, sample_initial_states, simulate


def _states(n=16, seed=0):
    m, x, v = sample_initial_states(n, torch.Generator().manual_seed(seed))
    return m, x, v


def test_simulator_commutes_with_rotations_and_translations():
    m, x, v = _states()
    g = random_rotation(len(m))
    t = torch.randn(len(m), 1, 3, dtype=torch.float64) * 5
    rot = lambda a: torch.einsum("bij,bnj->bni", g, a)  # noqa: E731
    y, w = simulate(m, x, v)
    y_g, w_g = simulate(m, rot(x) + t, rot(v))
    assert (y_g - (rot(y) + t)).abs().max() < 1e-10
    assert (w_g - rot(w)).abs().max() < 1e-10


def test_simulator_conserves_momentum_and_moves_bodies():
    m, x, v = _states()
    y, w = simulate(m, x, v)
    p0 = (m[..., None] * v).sum(1)
    p1 = (m[..., None] * w).sum(1)
    assert (p1 - p0).abs().max() < 1e-12
    assert (y - x).norm(dim=-1).max() > 1e-3


def test_initial_conditions_follow_the_generator():
    m, x, v = _states(2000)
    star = m.argmax(1)
    idx = torch.arange(len(m))
    assert ((m[idx, star] >= 1) & (m[idx, star] <= 10)).all()
    planets = m.clone()
    planets[idx, star] = 0.05
    assert ((planets >= 0.01) & (planets <= 0.1)).all()
    assert x[idx, star].abs().max() == 0 and v[idx, star].abs().max() == 0
    r = x.norm(dim=-1)
    r[idx, star] = 0.5
    assert (r >= 0.1 - 1e-12).all() and (r <= 1.0 + 1e-12).all()
    assert x[..., 2].abs().max() == 0  # x-y plane before rotation


def test_generation_rejects_outliers_and_is_deterministic():
    spec = {"name": "angle_range", "low_deg": 0, "high_deg": 10, "symmetric": True}
    a = generate(200, spec, torch.Generator().manual_seed(1))
    b = generate(200, spec, torch.Generator().manual_seed(1))
    assert a["x"].shape == (200, 4, 3)
    assert all((a[k] == b[k]).all() for k in a)
    assert (abs(a["y"] - a["x"]).max() <= SIM_DEFAULTS["outlier_threshold"])


def test_task_splits_cache_and_baselines(tmp_path, monkeypatch):
    monkeypatch.setenv("REMUL_DATA_DIR", str(tmp_path))
    task = get_task("nbody")
    data = dict(task.data_defaults, n_train=10, n_val=500, n_test=2000, n_ood=20)
    s1 = task.load(data)
    assert list((tmp_path / "nbody").glob("*.npz"))
    s2 = task.load(data)
    assert torch.equal(s1["test"]["y"], s2["test"]["y"])
    assert s1["train"]["x"].shape == (10, 4, 3) and s1["ood"]["h"].shape == (20, 4, 1)
    base = task.baselines(s1)
    # GATr's figures for its generator: no motion 0.0155, constant velocity 0.0054
    assert 0.010 < base["zero_motion_mse"] < 0.022
    assert 0.0035 < base["constant_velocity_mse"] < 0.008
    assert base["constant_velocity_mse"] < base["zero_motion_mse"]
