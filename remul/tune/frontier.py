"""The trade-off frontier: Pareto set over (task error, equivariance error) and its hypervolume.

Pure numpy / pandas / matplotlib; no Ray, no MLflow.

Both objectives are minimised. A point dominates another when it is <= in both and < in one;
the frontier is the set of valid points no other valid point dominates. Identical points (ties)
dominate neither each other, so all copies stay on the frontier (and count once in the
hypervolume).

Rows are *excluded* (column ``excluded`` holds the reason, the frontier ignores them) when the
trial errored, did not finish (e.g. stopped by ASHA), an objective is missing, NaN or infinite,
or the task error is above ``diverge_threshold`` (off by default).

Hypervolume: the area dominated by the frontier and bounded by the reference point ``r``
(both objectives minimised). The default reference point is the nadir of the valid points
(the worst value of each objective) times 1.1; an objective whose worst value is 0 gets 1.0.
Points outside the reference box add nothing. Pass ``reference=(r_task, r_equi)`` to compare
hypervolumes across sweeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_AXES = ("val_mse", "val_equi_error")
REFERENCE_FACTOR = 1.1


def pareto_mask(points) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array, all objectives minimised.

    Rows with a NaN/inf are never on the frontier and dominate nothing.
    """
    p = np.asarray(points, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"points: expected an (n, k) array, got shape {p.shape}")
    n = p.shape[0]
    finite = np.isfinite(p).all(axis=1)
    mask = finite.copy()
    idx = np.flatnonzero(finite)
    for i in idx:
        others = p[idx]
        le = (others <= p[i]).all(axis=1)
        lt = (others < p[i]).any(axis=1)
        if (le & lt).any():
            mask[i] = False
    return mask if n else np.zeros(0, dtype=bool)


def default_reference(points) -> tuple[float, ...]:
    """Nadir of the finite points times 1.1 (1.0 for an objective whose worst value is 0)."""
    p = np.asarray(points, dtype=float)
    p = p[np.isfinite(p).all(axis=1)] if p.size else p
    if p.size == 0:
        return (float("nan"), float("nan"))
    nadir = p.max(axis=0)
    return tuple(float(v * REFERENCE_FACTOR) if v > 0 else 1.0 for v in nadir)


def hypervolume_2d(points, reference) -> float:
    """Area dominated by ``points`` (n, 2) inside the box below ``reference``; minimisation."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    rx, ry = (float(v) for v in reference)
    if not (math.isfinite(rx) and math.isfinite(ry)):
        return float("nan")
    p = p[np.isfinite(p).all(axis=1)]
    p = p[(p[:, 0] < rx) & (p[:, 1] < ry)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_mask(p)]
    p = np.unique(p, axis=0)  # sorted by x, then y
    order = np.lexsort((p[:, 1], p[:, 0]))
    p = p[order]
    hv, prev_y = 0.0, ry
    for i in range(len(p)):
        x, y = p[i]
        if y >= prev_y:
            continue
        next_x = rx
        hv += (next_x - x) * (prev_y - y)
        prev_y = y
    return float(hv)


@dataclass
class Frontier:
    """``table``: every row with ``on_frontier`` and ``excluded`` (reason or "");
    ``frontier``: the frontier rows sorted by task error; ``hypervolume`` against ``reference``."""

    table: pd.DataFrame
    frontier: pd.DataFrame
    hypervolume: float
    reference: tuple[float, float]
    axes: tuple[str, str]


def _exclusion(row: pd.Series, axes, diverge_threshold) -> str:
    status = str(row.get("status", "") or "")
    err = row.get("error")
    if status.upper() == "ERROR" or (isinstance(err, str) and err):
        return f"error: {err}" if isinstance(err, str) and err else "error"
    if "final" in row.index:
        fin = row.get("final")
        if not (fin is True or (isinstance(fin, (int, float, np.bool_)) and fin == 1)):
            return "incomplete: no final result (stopped early or interrupted)"
    for a in axes:
        v = row.get(a)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return f"nan: {a} is missing or NaN"
        try:
            v = float(v)
        except (TypeError, ValueError):
            return f"nan: {a} is not a number ({v!r})"
        if math.isnan(v):
            return f"nan: {a} is NaN"
        if not math.isfinite(v):
            return f"diverged: {a} is {v}"
        if diverge_threshold is not None and a == axes[0] and v > diverge_threshold:
            return f"diverged: {a}={v:.4g} > {diverge_threshold:g}"
    return ""


def compute_frontier(
    results: pd.DataFrame,
    axes: tuple[str, str] = DEFAULT_AXES,
    reference: tuple[float, float] | None = None,
    diverge_threshold: float | None = None,
) -> Frontier:
    """Pareto set of ``results`` over ``axes`` (validation metrics), with exclusion reasons."""
    table = results.copy().reset_index(drop=True)
    reasons = [_exclusion(r, axes, diverge_threshold) for _, r in table.iterrows()]
    table["excluded"] = reasons
    valid = table["excluded"] == ""
    pts = np.full((len(table), 2), np.nan)
    if valid.any():
        pts[valid.to_numpy()] = table.loc[valid, list(axes)].astype(float).to_numpy()
    mask = pareto_mask(pts) if len(table) else np.zeros(0, dtype=bool)
    table["on_frontier"] = mask
    ref = tuple(reference) if reference is not None else default_reference(pts[valid.to_numpy()])
    hv = hypervolume_2d(pts[mask], ref) if mask.any() else 0.0
    front = table[table["on_frontier"]].sort_values(list(axes)).reset_index(drop=True)
    return Frontier(table=table, frontier=front, hypervolume=hv,
                    reference=(float(ref[0]), float(ref[1])), axes=tuple(axes))


BASELINE_COLUMNS = ("zero_motion_mse", "constant_velocity_mse")


def method_of(row) -> str:
    """A label for a trial: REMUL (constant / gradnorm), augmentation, plain (none), or the
    ``method`` column when the row has one (e.g. an equivariant baseline)."""
    m = row.get("method") if hasattr(row, "get") else None
    if isinstance(m, str) and m:
        return m
    mode = row.get("mode") if hasattr(row, "get") else None
    return {
        "constant": "REMUL (constant)",
        "gradnorm": "REMUL (GradNorm)",
        "augmentation": "augmentation",
        "none": "plain",
    }.get(mode, str(mode) if mode is not None else "unknown")


def plot_frontier(fr: Frontier, path, title: str = "") -> str:
    """Scatter of task error vs E for every valid trial (by method), frontier marked as a step
    line, trivial-predictor baselines as vertical lines. Writes a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    x_name, y_name = fr.axes
    t = fr.table
    valid = t[t["excluded"] == ""]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    labels = valid.apply(method_of, axis=1) if len(valid) else pd.Series(dtype=str)
    for lab in sorted(set(labels)):
        sub = valid[labels == lab]
        ax.scatter(sub[x_name], sub[y_name], s=28, alpha=0.75, label=lab)
    f = fr.frontier
    if len(f):
        ax.step(f[x_name], f[y_name], where="post", color="black", lw=1.2)
        ax.scatter(f[x_name], f[y_name], s=90, facecolors="none", edgecolors="black",
                   label=f"frontier ({len(f)})")
    for col, style in zip(BASELINE_COLUMNS, ("--", ":")):
        if col in t.columns and t[col].notna().any():
            v = float(pd.to_numeric(t[col], errors="coerce").median())
            if math.isfinite(v):
                ax.axvline(v, ls=style, color="grey", lw=1, label=f"{col} (test)")
    xs = pd.to_numeric(valid[x_name], errors="coerce") if len(valid) else pd.Series([], dtype=float)
    ys = pd.to_numeric(valid[y_name], errors="coerce") if len(valid) else pd.Series([], dtype=float)
    if len(xs) and (xs > 0).all():
        ax.set_xscale("log")
    if len(ys) and (ys > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel(f"task error ({x_name})")
    ax.set_ylabel(f"equivariance error ({y_name})")
    hv = "nan" if not math.isfinite(fr.hypervolume) else f"{fr.hypervolume:.4g}"
    ax.set_title((title + "\n" if title else "") + f"hypervolume {hv} (ref {fr.reference[0]:.3g}, "
                 f"{fr.reference[1]:.3g}); excluded {int((t['excluded'] != '').sum())}",
                 fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def format_table(df: pd.DataFrame, columns, max_rows: int = 30) -> str:
    cols = [c for c in columns if c in df.columns]
    if not len(df):
        return "(empty)"
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:.4g}".format):
        return df[cols].head(max_rows).to_string(index=False)
