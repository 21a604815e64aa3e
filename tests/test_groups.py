import math

import pytest
import torch

from remul.groups import make_group, rotation_angle, sample_angle_range, sample_so2, sample_so3


def _is_rotation(R, tol=1e-10):
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    return (R @ R.transpose(-1, -2) - eye).abs().max() < tol and (
        torch.linalg.det(R) - 1
    ).abs().max() < tol


@pytest.mark.parametrize("spec", [
    {"name": "so3"},
    {"name": "angle_range", "low_deg": 90, "high_deg": 180},
    {"name": "so2", "axis": [0, 1, 0]},
])
def test_samplers_give_rotations_and_are_seeded(spec):
    s = make_group(spec)
    a = s(500, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = s(500, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert a.shape == (500, 3, 3)
    assert _is_rotation(a)
    assert torch.equal(a, b)


def test_so3_is_haar_mean_zero_and_angles():
    R = sample_so3(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert R.mean(0).abs().max() < 0.02  # E[R] = 0 under Haar
    # Haar angle density is (1 - cos t) / pi: mean angle = pi/2 + 2/pi
    assert abs(rotation_angle(R).mean().item() - (math.pi / 2 + 2 / math.pi)) < 0.02


def test_angle_range_bounds_and_sign():
    gen = torch.Generator().manual_seed(1)
    R = sample_angle_range(5000, 90, 180, True, gen, torch.float64)
    ang = torch.rad2deg(rotation_angle(R))
    assert ang.min() >= 90 - 1e-6 and ang.max() <= 180 + 1e-6
    small = sample_angle_range(5000, 0, 10, True, gen, torch.float64)
    ang = torch.rad2deg(rotation_angle(small))
    assert ang.max() <= 10 + 1e-6 and ang.mean() > 3


def test_so2_fixes_its_axis():
    axis = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    R = sample_so2(100, axis=(0, 1, 0), generator=torch.Generator().manual_seed(0),
                   dtype=torch.float64)
    assert torch.allclose(R @ axis, axis.expand(100, 3), atol=1e-12)
    assert rotation_angle(R).max() > 2.0


@pytest.mark.parametrize("spec,field", [
    ({"name": "o3"}, "group.name"),
    ({"name": "angle_range", "low_deg": 20, "high_deg": 10}, "low_deg"),
    ({"name": "so2", "axis": [0, 0, 0]}, "axis"),
    ({"name": "so3", "foo": 1}, "foo"),
])
def test_bad_group_specs_name_the_field(spec, field):
    with pytest.raises(ValueError, match=field):
        make_group(spec)
