"""Pareto set, hypervolume and exclusion reasons (pure numpy/pandas)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from remul.tune.frontier import (
    compute_frontier,
    default_reference,
    hypervolume_2d,
    pareto_mask,
    plot_frontier,
)


def test_dominated_points_are_dropped():
    pts = np.array([[1.0, 5.0], [2.0, 2.0], [5.0, 1.0], [3.0, 3.0], [6.0, 6.0]])
    assert pareto_mask(pts).tolist() == [True, True, True, False, False]


def test_ties_stay_on_the_frontier_and_count_once():
    pts = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0]])
    assert pareto_mask(pts).tolist() == [True, True, True]
    ref = (3.0, 3.0)
    assert hypervolume_2d(pts, ref) == pytest.approx(hypervolume_2d(pts[1:], ref))


def test_tie_in_one_objective_is_dominated():
    pts = np.array([[1.0, 2.0], [1.0, 3.0]])
    assert pareto_mask(pts).tolist() == [True, False]


def test_nan_rows_are_never_on_the_frontier():
    pts = np.array([[np.nan, 0.0], [1.0, 1.0], [0.5, np.inf]])
    assert pareto_mask(pts).tolist() == [False, True, False]


def test_single_point_and_empty():
    assert pareto_mask(np.array([[1.0, 1.0]])).tolist() == [True]
    assert pareto_mask(np.zeros((0, 2))).tolist() == []
    assert hypervolume_2d([[1.0, 1.0]], (2.0, 3.0)) == pytest.approx(2.0)
    assert hypervolume_2d(np.zeros((0, 2)), (1.0, 1.0)) == 0.0


def test_hypervolume_of_a_staircase():
    pts = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    # union of [1,4]x[3,4], [2,4]x[2,4], [3,4]x[1,4] = 3*1 + 2*1 + 1*1
    assert hypervolume_2d(pts, (4.0, 4.0)) == pytest.approx(6.0)
    # dominated and out-of-box points add nothing
    assert hypervolume_2d(pts + [[3.5, 3.5], [5.0, 0.5]], (4.0, 4.0)) == pytest.approx(6.0)


def test_hypervolume_matches_monte_carlo():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(12, 2))
    ref = (1.0, 1.0)
    grid = rng.uniform(0, 1, size=(200_000, 2))
    dominated = np.zeros(len(grid), dtype=bool)
    for p in pts:
        dominated |= (grid >= p).all(axis=1)
    assert hypervolume_2d(pts, ref) == pytest.approx(dominated.mean(), abs=5e-3)


def test_default_reference():
    assert default_reference([[1.0, 2.0], [3.0, 0.5]]) == pytest.approx((3.3, 2.2))
    assert default_reference([[1.0, 0.0]]) == pytest.approx((1.1, 1.0))


def _table():
    return pd.DataFrame({
        "trial_id": list("abcdefg"),
        "status": ["TERMINATED"] * 5 + ["ERROR", "TERMINATED"],
        "error": [""] * 5 + ["boom", ""],
        "final": [True, True, True, True, False, False, True],
        "mode": ["constant", "constant", "augmentation", "none", "constant", "gradnorm",
                 "constant"],
        "val_mse": [1.0, 2.0, 3.0, float("nan"), 0.1, 0.1, float("inf")],
        "val_equi_error": [3.0, 1.0, 0.5, 0.1, 0.1, 0.1, 0.1],
        "test_mse": [1.1, 2.1, 3.1, 0.0, 0.0, 0.0, 0.0],
        "zero_motion_mse": [5.0] * 7,
    })


def test_compute_frontier_excludes_with_reasons(tmp_path):
    fr = compute_frontier(_table())
    t = fr.table.set_index("trial_id")
    assert t.loc["d", "excluded"].startswith("nan")
    assert t.loc["e", "excluded"].startswith("incomplete")
    assert t.loc["f", "excluded"].startswith("error")
    assert t.loc["g", "excluded"].startswith("diverged")
    assert list(fr.frontier["trial_id"]) == ["a", "b", "c"]  # sorted by task error
    assert fr.reference == pytest.approx((3.3, 3.3))
    assert math.isfinite(fr.hypervolume) and fr.hypervolume > 0
    assert "test_mse" in fr.frontier.columns  # reported, not used to choose
    png = plot_frontier(fr, tmp_path / "f.png", title="t")
    assert (tmp_path / "f.png").stat().st_size > 1000 and png.endswith("f.png")


def test_diverge_threshold_and_explicit_reference():
    fr = compute_frontier(_table(), diverge_threshold=2.5, reference=(10.0, 10.0))
    t = fr.table.set_index("trial_id")
    assert t.loc["c", "excluded"].startswith("diverged")
    assert fr.reference == (10.0, 10.0)
    assert list(fr.frontier["trial_id"]) == ["a", "b"]


def test_all_excluded_gives_empty_frontier(tmp_path):
    df = _table().iloc[3:6]
    fr = compute_frontier(df)
    assert len(fr.frontier) == 0 and fr.hypervolume == 0.0
    plot_frontier(fr, tmp_path / "empty.png")
