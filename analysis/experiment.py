"""Read a finished (or running) Tune experiment: trials, metrics, best trial, best checkpoint."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.tune.utils import flatten_dict

from callbacks import RETURN_METRIC
from callbacks.greedy_returns import GREEDY_RETURN

EVAL_RETURN = GREEDY_RETURN  # the greedy round's mean return, as Tune flattens it
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
        raise AnalysisError(f"cannot read the experiment in {path}: {_one_line(err)}") from None
    return tune.ResultGrid(analysis)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in config.items() if k != _MODEL}
    flat.update(config.get(_MODEL) or {})
    return flat


def varying_keys(grid: tune.ResultGrid) -> list[str]:
    """Config keys (model keys included) whose values differ between trials."""
    configs = [flat_config(result.config or {}) for result in grid]
    if len(configs) < 2:
        return []
    keys = dict.fromkeys(k for config in configs for k in config)
    return [k for k in keys if len({_shown(config.get(k)) for config in configs}) > 1]


def _shown(value: Any) -> str:
    """``value``'s repr without memory addresses: each trial's copy of the same callback
    object (``<... object at 0x...>``) is the same setting."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def metric_names(grid: tune.ResultGrid) -> list[str]:
    """Every numeric metric any trial reported (Tune's flattened names)."""
    names: dict[str, None] = {}
    for result in grid:
        frame = result.metrics_dataframe
        if frame is not None:
            names.update(dict.fromkeys(frame.select_dtypes("number").columns))
    return list(names)


def resolve_metric(grid: tune.ResultGrid, metric: str | None) -> str:
    """``metric``, checked; by default the evaluation return, else the training return."""
    names = metric_names(grid)
    if metric is None:
        evaluated = any(
            not math.isnan(_checkpoint_value(metrics, EVAL_RETURN))
            for result in grid
            for _, metrics in result.best_checkpoints or []
        )
        return EVAL_RETURN if evaluated else RETURN_METRIC
    if metric not in names:
        wanted = [n for n in names if any(w in n for w in ("return", "reward", "len_mean"))]
        wanted = [
            n
            for n in wanted
            if not n.startswith("config/") and "agent_episode" not in n and "module_ep" not in n
        ]
        raise AnalysisError(
            f"unknown metric {metric!r}; available: {', '.join(wanted)} "
            f"(or any of the {len(names)} columns of progress.csv/result.json)"
        )
    return metric


def _checkpoint_value(metrics: dict[str, Any], metric: str) -> float:
    value = flatten_dict(metrics).get(metric)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _rank(value: float, mode: str) -> float:
    """Larger is better, NaN is worst."""
    if math.isnan(value):
        return -math.inf
    return value if mode == "max" else -value


def best_value(result: tune.Result, metric: str = RETURN_METRIC, mode: str = "max") -> float:
    """The best value ``metric`` took over a trial's results (NaN if never reported)."""
    frame = result.metrics_dataframe
    if frame is None or metric not in frame or frame[metric].isna().all():
        return math.nan
    return float(frame[metric].max() if mode == "max" else frame[metric].min())


def best_return(result: tune.Result) -> float:
    """A trial's highest mean return of the last 100 training episodes (NaN if none)."""
    return best_value(result, RETURN_METRIC, "max")


def best_checkpoint(
    result: tune.Result, metric: str = RETURN_METRIC, mode: str = "max"
) -> tune.Checkpoint | None:
    """The kept checkpoint best by ``metric``, ties broken by the training return.

    A checkpoint saved in an iteration without an evaluation round has no evaluation
    return; it only wins when no kept checkpoint has one.
    """
    kept = result.best_checkpoints or []
    if not kept:
        return None
    checkpoint, _ = max(
        kept,
        key=lambda pair: (
            _rank(_checkpoint_value(pair[1], metric), mode),
            _rank(_checkpoint_value(pair[1], RETURN_METRIC), "max"),
            _checkpoint_value(pair[1], "training_iteration"),
        ),
    )
    return checkpoint


def checkpoint_metrics(result: tune.Result, checkpoint: tune.Checkpoint) -> dict[str, Any]:
    """The (flattened) results of the iteration that saved ``checkpoint``."""
    for kept, metrics in result.best_checkpoints or []:
        if kept.path == checkpoint.path:
            return flatten_dict(metrics)
    return {}


def completed(grid: tune.ResultGrid) -> list[tune.Result]:
    """The trials that finished at least one training iteration."""
    return [result for result in grid if result.metrics and "training_iteration" in result.metrics]


def best_result(
    grid: tune.ResultGrid, metric: str = RETURN_METRIC, mode: str = "max"
) -> tune.Result:
    """The trial that reached the best ``metric``, ties broken by the training return."""
    trials = completed(grid)
    if not trials:
        raise AnalysisError("no trial completed a training iteration")
    best = max(
        trials,
        key=lambda r: (_rank(best_value(r, metric, mode), mode), _rank(best_return(r), "max")),
    )
    if math.isnan(best_value(best, metric, mode)):
        raise AnalysisError(f"no trial reported {metric}")
    return best


@dataclass
class Best:
    """The best trial of an experiment and its best checkpoint, chosen by ``metric``."""

    result: tune.Result
    checkpoint: tune.Checkpoint
    metric: str
    mode: str

    @property
    def value(self) -> float:
        """``metric`` in the iteration that saved the checkpoint."""
        return _checkpoint_value(checkpoint_metrics(self.result, self.checkpoint), self.metric)

    @property
    def chosen_by(self) -> str:
        """How the checkpoint was chosen, e.g. ``eval return (max) = 500.0 when saved``."""
        value = self.value
        shown = "n/a" if math.isnan(value) else f"{value:.1f}"
        return f"{metric_label(self.metric)} ({self.mode}) = {shown} when saved"


def choose_best(grid: tune.ResultGrid, metric: str | None = None, mode: str = "max") -> Best:
    """Best trial and its best checkpoint; the default metric is the evaluation return."""
    if mode not in ("max", "min"):
        raise AnalysisError(f"mode must be max or min, got {mode!r}")
    metric = resolve_metric(grid, metric)
    result = best_result(grid, metric, mode)
    checkpoint = best_checkpoint(result, metric, mode)
    if checkpoint is None:
        raise AnalysisError(
            f"the best trial ({Path(result.path).name}) kept no checkpoint; "
            "run with --checkpoint-every N (and --keep-checkpoints N > 0)"
        )
    return Best(result, checkpoint, metric, mode)


def trials_table(
    grid: tune.ResultGrid, metric: str = RETURN_METRIC, mode: str = "max"
) -> pd.DataFrame:
    """One row per trial: the varying config, best returns, timesteps, time, status, checkpoint.

    Sorted best first by ``metric``, then by the training return.
    """
    keys = varying_keys(grid)
    rows = []
    for result in grid:
        config = flat_config(result.config or {})
        metrics = result.metrics or {}
        row: dict[str, Any] = {"trial": metrics.get("trial_id", Path(result.path).name)}
        for key in keys:
            value = config.get(key)
            row[key] = f"{value:.3g}" if isinstance(value, float) else str(value)
        checkpoint = best_checkpoint(result, metric, mode)
        row["best return"] = round(best_return(result), 1)
        if metric != RETURN_METRIC:
            row[metric_label(metric)] = round(best_value(result, metric, mode), 1)
        row.update(
            {
                "timesteps": int(metrics.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0) or 0),
                "time (s)": round(float(metrics.get("time_total_s", 0) or 0), 1),
                "status": "error" if result.error else "done" if metrics else "no result",
                "checkpoint": checkpoint.path if checkpoint else "",
            }
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    if metric == RETURN_METRIC:
        return table.sort_values("best return", ascending=False, na_position="last")
    return table.sort_values(
        [metric_label(metric), "best return"], ascending=[mode == "min", False], na_position="last"
    )


def metric_label(metric: str) -> str:
    """A short column title for a metric."""
    return {RETURN_METRIC: "best return", EVAL_RETURN: "eval return"}.get(metric, metric)
