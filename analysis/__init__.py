"""Read finished (or running) experiments: trials, best trial, best checkpoint.

Only reads what experiments wrote. ``python -m analysis DIR`` prints the same.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from callbacks import RETURN_METRIC

TIMESTEPS = "num_env_steps_sampled_lifetime"
_MODEL = "_model_config"


class AnalysisError(Exception):
    """The directory cannot be analysed; the message says why in one line."""


def load_experiment(path: str | Path) -> tune.ResultGrid:
    """Load the Tune experiment in ``path`` as a ResultGrid."""
    path = Path(path)
    if not path.is_dir():
        raise AnalysisError(f"no such directory: {path}")
    if not list(path.glob("experiment_state-*.json")):
        raise AnalysisError(f"{path} holds no Tune experiment (no experiment_state-*.json)")
    try:
        analysis = tune.ExperimentAnalysis(str(path.absolute()))
    except Exception as err:
        raise AnalysisError(f"cannot read the experiment in {path}: {err}") from None
    return tune.ResultGrid(analysis)


def _flat_config(config: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in config.items() if k != _MODEL}
    flat.update(config.get(_MODEL) or {})
    return flat


def varying_keys(grid: tune.ResultGrid) -> list[str]:
    """Config keys (model keys included) whose values differ between trials."""
    configs = [_flat_config(result.config or {}) for result in grid]
    if len(configs) < 2:
        return []
    keys = dict.fromkeys(k for config in configs for k in config)
    return [k for k in keys if len({repr(config.get(k)) for config in configs}) > 1]


def trials_table(grid: tune.ResultGrid) -> pd.DataFrame:
    """One row per trial: the varying config, best return, timesteps, time, status, checkpoint.

    Sorted best first by the mean return of the last 100 training episodes.
    """
    keys = varying_keys(grid)
    rows = []
    for result in grid:
        config = _flat_config(result.config or {})
        row: dict[str, Any] = {"trial": (result.metrics or {}).get("trial_id", "?")}
        for key in keys:
            value = config.get(key)
            row[key] = f"{value:.3g}" if isinstance(value, float) else str(value)
        metrics = result.metrics or {}
        checkpoint = best_checkpoint(result)
        row.update(
            {
                "best return": round(best_return(result), 1),
                "timesteps": int(metrics.get(TIMESTEPS, 0) or 0),
                "time (s)": round(float(metrics.get("time_total_s", 0) or 0), 1),
                "status": "error" if result.error else "done",
                "checkpoint": checkpoint.path if checkpoint else "",
            }
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values("best return", ascending=False, na_position="last")


def best_return(result: tune.Result) -> float:
    """A trial's highest mean return of the last 100 training episodes (NaN if none)."""
    frame = result.metrics_dataframe
    if frame is None or RETURN_METRIC not in frame:
        return math.nan
    return float(frame[RETURN_METRIC].max())


def best_checkpoint(result: tune.Result) -> tune.Checkpoint | None:
    """The checkpoint Tune kept with the highest return, if the trial has any."""
    return result.get_best_checkpoint(RETURN_METRIC, "max") if result.best_checkpoints else None


def best_result(grid: tune.ResultGrid) -> tune.Result:
    """The trial with the highest mean return of the last 100 training episodes."""
    try:
        return grid.get_best_result(metric=RETURN_METRIC, mode="max", scope="all")
    except RuntimeError as err:
        raise AnalysisError(f"no trial reported {RETURN_METRIC}: {err}") from None
