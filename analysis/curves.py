"""Learning curves and, for sweeps, hyperparameters against result (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, safe in any thread

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from ray import tune  # noqa: E402
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME  # noqa: E402

from analysis.experiment import (  # noqa: E402
    EVAL_RETURN,
    best_value,
    flat_config,
    metric_label,
    varying_keys,
)
from analysis.seeds import curve_band  # noqa: E402
from callbacks import RETURN_METRIC  # noqa: E402
from callbacks.final_evaluation import ran_evaluation  # noqa: E402

_BEST = "#d62728"
_OTHER = "#9e9e9e"


def plot_curves(grid: tune.ResultGrid, best: tune.Result, out: str | Path) -> Path:
    """Return vs timesteps and vs wall time for every trial, the best one highlighted."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, constrained_layout=True)
    for x, ax, xlabel in (
        (NUM_ENV_STEPS_SAMPLED_LIFETIME, axes[0], "environment steps"),
        ("time_total_s", axes[1], "training time (s)"),
    ):
        for result in grid:
            frame = result.metrics_dataframe
            if frame is None or RETURN_METRIC not in frame or x not in frame:
                continue
            is_best = result.path == best.path
            ax.plot(
                frame[x],
                frame[RETURN_METRIC],
                color=_BEST if is_best else _OTHER,
                linewidth=2.2 if is_best else 0.9,
                alpha=1.0 if is_best else 0.6,
                zorder=3 if is_best else 2,
                label="best trial: training (last 100 episodes)" if is_best else None,
            )
            if is_best and EVAL_RETURN in frame:
                interval = (result.config or {}).get("evaluation_interval")
                evaluated = frame[fresh_evaluations(frame, interval)]
                ax.scatter(
                    evaluated[x],
                    evaluated[EVAL_RETURN],
                    color="black",
                    marker="D",
                    s=22,
                    zorder=4,
                    label="best trial: greedy evaluation",
                )
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("episode return")
    if len(grid) > 1:
        axes[0].plot([], [], color=_OTHER, label="other trials")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Learning curves: {Path(best.path).parent.name}", fontsize=11)
    return _save(fig, out)


def plot_seeds(grid: tune.ResultGrid, out: str | Path) -> Path:
    """Return (last 100 episodes) against env steps over seeds: the IQM with its 95 %
    bootstrap CI as a band, each seed a faint line."""
    fig, ax = plt.subplots(figsize=(7.5, 4), constrained_layout=True)
    frames = []
    for result in grid:
        frame = result.metrics_dataframe
        if frame is None or RETURN_METRIC not in frame:
            continue
        frames.append(frame)
        ax.plot(frame[NUM_ENV_STEPS_SAMPLED_LIFETIME], frame[RETURN_METRIC], color=_OTHER,
                linewidth=0.8, alpha=0.5)  # fmt: skip
    band = curve_band(frames)
    x = band[NUM_ENV_STEPS_SAMPLED_LIFETIME]
    ax.fill_between(x, band["low"], band["high"], color=_BEST, alpha=0.2, label="95 % CI")
    ax.plot(x, band["iqm"], color=_BEST, linewidth=2.2, label=f"IQM over {len(frames)} seeds")
    ax.plot([], [], color=_OTHER, label="each seed")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return (last 100 episodes)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("Over seeds: IQM and its 95 % bootstrap CI", fontsize=11)
    return _save(fig, out)


def fresh_evaluations(frame: pd.DataFrame, interval: int | None) -> pd.Series:
    """Rows of iterations that ran an evaluation round (see ``ran_evaluation``)."""
    if frame.empty:
        return pd.Series(False, index=frame.index)
    last = frame["training_iteration"].max()
    return frame.apply(
        lambda row: ran_evaluation(row["training_iteration"], row[EVAL_RETURN], interval, last),
        axis=1,
    ).astype(bool)


def plot_hyperparameters(
    grid: tune.ResultGrid, out: str | Path, metric: str = RETURN_METRIC, mode: str = "max"
) -> Path | None:
    """One panel per varying hyperparameter: its value against the trial's best result."""
    keys = varying_keys(grid)
    if not keys:
        return None
    rows = [
        {
            **{k: flat_config(r.config or {}).get(k) for k in keys},
            "result": best_value(r, metric, mode),
        }
        for r in grid
    ]
    table = pd.DataFrame(rows)
    fig, axes = plt.subplots(
        1,
        len(keys),
        figsize=(3.6 * len(keys), 3.4),
        sharey=True,
        squeeze=False,
        constrained_layout=True,
    )
    for ax, key in zip(axes[0], keys, strict=True):
        values = table[key]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            ax.scatter(values, table["result"], color=_BEST, s=28)
            positive = all(v > 0 for v in values)
            if positive and max(values) / min(values) > 20:
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            positions = [labels.index(str(v)) for v in values]
            ax.scatter(positions, table["result"], color=_BEST, s=28)
            ax.set_xticks(range(len(labels)), labels, rotation=15, fontsize=8)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xlabel(key)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric_label(metric))
    fig.suptitle("Hyperparameters against result (one dot per trial)", fontsize=11)
    return _save(fig, out)


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
