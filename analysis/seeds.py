"""Figures over seeds: each trial's outcome, and the interquartile mean (IQM) with a 95 %
bootstrap confidence interval, as Agarwal et al. (NeurIPS 2021) recommend.

The statistics are SciPy's (``scipy.stats.trim_mean`` and ``scipy.stats.bootstrap``, in
``suite/stats.py``): maintained, already a dependency of RLlib's stack, and the same
percentile bootstrap that rliable (archived in 2025) wraps. With one task per experiment,
the stratified bootstrap over tasks is the plain bootstrap over seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from ray import tune
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from callbacks import RETURN_METRIC
from callbacks.episode_returns import EPISODES_METRIC, WINDOW
from callbacks.greedy_returns import GREEDY_EPISODES, GREEDY_RETURN, GREEDY_SE
from suite.stats import Interval, iqm_ci


def seed_of(result: tune.Result) -> Any:
    return (result.config or {}).get("seed")


def trial_outcome(result: tune.Result, goal: float) -> dict[str, Any]:
    """One trial's figures: its seed, final and best return, time and steps to the goal (NaN
    where not reached), and its last greedy evaluation (mean ± SE over its episodes)."""
    frame = result.metrics_dataframe
    row: dict[str, Any] = {"seed": seed_of(result), "trial": (result.metrics or {}).get("trial_id")}
    if frame is None or RETURN_METRIC not in frame:
        return row | {"final return": math.nan, "time to goal (s)": math.nan,
                      "steps to goal": math.nan}  # fmt: skip
    returns = frame[RETURN_METRIC]
    solved = (returns >= goal) & (frame.get(EPISODES_METRIC, WINDOW) >= WINDOW)
    first = frame[solved].iloc[0] if solved.any() else None
    row |= {
        "final return": float(returns.dropna().iloc[-1]) if returns.notna().any() else math.nan,
        "time to goal (s)": float(first["time_total_s"]) if first is not None else math.nan,
        "steps to goal": float(first[NUM_ENV_STEPS_SAMPLED_LIFETIME])
        if first is not None
        else math.nan,
    }
    # The last round this trial ran (RLlib repeats a round's mean in the next result).
    fresh = GREEDY_EPISODES if GREEDY_EPISODES in frame else GREEDY_RETURN
    if fresh in frame and frame[fresh].notna().any():
        last = frame[frame[fresh].notna()].iloc[-1]
        row |= {
            "greedy return": float(last[GREEDY_RETURN]),
            "greedy SE": float(last.get(GREEDY_SE, math.nan)),
            "greedy episodes": int(last.get(GREEDY_EPISODES, 0) or 0),
        }
    return row


def greedy_summary(outcome: dict[str, Any]) -> str | None:
    """``494.8 ± 5.2 over 5 episodes (the last round)`` from ``trial_outcome``, or None."""
    if "greedy return" not in outcome:
        return None
    return (
        f"{outcome['greedy return']:.1f} ± {outcome['greedy SE']:.1f} over "
        f"{outcome['greedy episodes']} episodes (the last round)"
    )


AGGREGATED = ("final return", "time to goal (s)", "steps to goal")


def seeds_table(grid: tune.ResultGrid, goal: float) -> pd.DataFrame:
    """One row per trial, by seed."""
    table = pd.DataFrame([trial_outcome(result, goal) for result in grid])
    return table.sort_values("seed", na_position="last") if "seed" in table else table


_SHOWN = {
    "final return": "{:.1f}",
    "time to goal (s)": "{:.1f}",
    "steps to goal": "{:,.0f}",
    "greedy return": "{:.1f}",
    "greedy SE": "{:.2f}",
}


def shown_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """``seeds_table`` as people read it: a row per seed, figures rounded, "-" where a seed
    has none (it did not reach the goal)."""
    shown = table.drop(columns=["trial"], errors="ignore").copy()
    for column, form in _SHOWN.items():
        if column in shown:
            shown[column] = [
                "-" if v is None or (isinstance(v, float) and math.isnan(v)) else form.format(v)
                for v in shown[column]
            ]
    return shown


def aggregate(table: pd.DataFrame) -> dict[str, Interval]:
    """IQM and CI of each figure in ``AGGREGATED`` over the trials that have it (time and
    steps to the goal: over the trials that reached it)."""
    return {key: iqm_ci(table[key].tolist()) for key in AGGREGATED if key in table}


def curve_band(
    frames: list[pd.DataFrame], x: str = NUM_ENV_STEPS_SAMPLED_LIFETIME, points: int = 60
) -> pd.DataFrame:
    """The IQM of ``return_last100`` over trials at common ``x`` values, with its CI: each
    trial's curve interpolated onto the x range all of them cover."""
    frames = [f[[x, RETURN_METRIC]].dropna() for f in frames if x in f and RETURN_METRIC in f]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[x, "iqm", "low", "high"])
    end = min(f[x].max() for f in frames)
    start = max(f[x].min() for f in frames)
    grid = np.linspace(start, end, points) if end > start else np.array([end])
    curves = np.array([np.interp(grid, f[x], f[RETURN_METRIC]) for f in frames])
    rows = []
    for i, point in enumerate(grid):
        interval = iqm_ci(curves[:, i].tolist())
        rows.append({x: point, "iqm": interval.value, "low": interval.low, "high": interval.high})
    return pd.DataFrame(rows)
