"""What the console shows: a progress line per trial, the summary (with the figures over seeds),
errors as their real cause, and how to continue an interrupted run."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import pandas as pd
from ray import tune
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from analysis import (
    EVAL_RETURN,
    AnalysisError,
    best_result,
    best_return,
    choose_best,
    completed,
    metric_label,
    trials_table,
    varying_keys,
)
from analysis.seeds import (
    aggregate,
    greedy_summary,
    seed_of,
    seeds_table,
    shown_seeds,
    trial_outcome,
)
from analysis.watch import LiveView, Snapshot, curves_png, in_notebook
from callbacks import RETURN_METRIC, episode_returns
from callbacks.eval_video import announced_video
from callbacks.greedy_returns import greedy_line
from runner.storage import experiment_dir, storage_full
from suite.uris import is_remote


class ProgressLine(tune.Callback):
    """One line per trial every few seconds: iteration, steps, return, time. In a notebook,
    one output redrawn in place instead (``analysis.watch.LiveView``): those lines, the
    learning curves and the newest evaluation video."""

    def __init__(self, stop_return: float, max_failures: int = 0, every_s: float = 2.0) -> None:
        self.stop_return = stop_return
        self.max_failures = max_failures
        self.every_s = every_s
        self._last: dict[str, float] = {}  # when each trial's line was last printed
        self._live: LiveView | None = None
        self._redrawn = -math.inf
        self._lines: dict[str, str] = {}
        self._rows: dict[str, list[dict]] = {}
        self._video: Path | None = None

    def __getstate__(self) -> dict:  # (Tune pickles its callbacks; the display stays here)
        return {**self.__dict__, "_live": None, "_lines": {}, "_rows": {}, "_video": None}

    def setup(self, **info) -> None:
        self._live = LiveView() if in_notebook() else None
        self._redrawn = -math.inf
        if self._live is not None:
            curves_png(Snapshot())  # matplotlib's first figure (~0.7 s) before Tune's loop runs

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        now = time.monotonic()
        if self._live is None:
            # Every few seconds, and every result with a fresh greedy round (its figure).
            fresh = greedy_line(_evaluation_runners(result), fresh=True) is not None
            if fresh or now - self._last.get(trial.trial_id, -math.inf) >= self.every_s:
                self._last[trial.trial_id] = now
                print(self._line(trial, result), flush=True)
            return
        self._lines[trial.trial_id] = self._line(trial, result)
        self._rows.setdefault(trial.trial_id, []).append(
            {key: result.get(key) for key in _CURVE_KEYS} | _eval_return(result)
        )
        video = announced_video(result).get("path")
        if video and not is_remote(video):
            self._video = Path(video)
        # One redraw every few seconds for all trials together (each redraw plots the
        # curves, in Tune's loop), and at once for a new video.
        if now - self._redrawn >= self.every_s or video:
            self._redraw()

    def on_experiment_end(self, trials, **info) -> None:
        if self._live is not None and self._rows:
            self._redraw()

    def _line(self, trial, result: dict) -> str:
        value = result.get(RETURN_METRIC, math.nan)
        shown = f"{value:7.1f}" if not math.isnan(value) else "      -"  # no episode ended yet
        greedy = greedy_line(_evaluation_runners(result), fresh=True)
        return (
            f"[{trial.trial_id}] iter {result['training_iteration']:>4}  "
            f"steps {int(result.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)):>9,}  "
            f"return(last 100) {shown} / {self.stop_return:g}  "
            f"{result.get('time_total_s', 0):6.1f} s" + (f"  greedy {greedy}" if greedy else "")
        )

    def _redraw(self) -> None:
        curves = curves_png(Snapshot(rows=self._rows))
        self._live.show(list(self._lines.values()), curves, self._video)
        self._redrawn = time.monotonic()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        print(f"[{trial.trial_id}] FAILED: {_error_line(trial.error_file)}", flush=True)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        print(
            f"[{trial.trial_id}] failed ({_error_line(trial.error_file)}); "
            f"retrying: failure {trial.num_failures} of --max-failures {self.max_failures} allowed",
            flush=True,
        )


_CURVE_KEYS = (NUM_ENV_STEPS_SAMPLED_LIFETIME, RETURN_METRIC)


def _evaluation_runners(result: dict) -> dict:
    return (result.get("evaluation") or {}).get("env_runners") or {}


def _eval_return(result: dict) -> dict:
    """The greedy evaluation's return, if this result has one, keyed as the curves read it."""
    value = (result.get("evaluation") or {}).get("env_runners", {}).get("episode_return_mean")
    return {} if value is None else {EVAL_RETURN: value}


def _error_line(error_file: str | None) -> str:
    """The real cause of a trial's latest failure, from Tune's error file."""
    if not error_file or not os.path.exists(error_file):
        return "unknown error"
    latest = re.split(r"^Failure # \d+.*$", Path(error_file).read_text(), flags=re.M)[-1]
    return root_cause(latest) if latest.strip() else "unknown error"


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (\S.*)$")


def root_cause(error: BaseException | str) -> str:
    """The first exception with a message in a (chained, Ray-wrapped) traceback: the cause.

    RLlib and Ray re-raise a remote worker's error as ``RuntimeError`` or an actor error,
    so the last line of a trial's traceback is rarely what went wrong.
    """
    lines = [line.strip() for line in str(error).strip().splitlines()]
    for line in lines:
        match = _EXCEPTION_LINE.match(line)
        if match:
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}"
    return lines[-1] if lines and lines[-1] else type(error).__name__


def print_summary(
    grid: tune.ResultGrid,
    *,
    script: str,
    storage: str,
    name: str,
    stop_return: float,
    sweep: dict | None,
    wall_s: float,
    since: str = "process start",
    seeds: bool = False,
    resumed: bool = False,
) -> None:
    """Best return, iterations, timesteps, wall time, best checkpoint and what to run next;
    with ``seeds``, each seed's outcome and the IQM over seeds with its 95 % CI first."""
    table = trials_table(grid)
    if sweep:
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            print("\n" + table.drop(columns=["checkpoint"]).to_string(index=False))
    if seeds:
        print_seeds(grid, stop_return)
    for result in grid:
        if result.error:
            print(f"trial {Path(result.path).name}: error: {root_cause(result.error)}")
    exp_dir = experiment_dir(storage, name)
    print(f"\n== {script}: {name}")
    try:
        best = best_result(grid)
    except AnalysisError:  # no episode finished yet (a short --smoke on Pong): any trial
        best = next(iter(completed(grid)), None)
    if best is None:
        print(f"no trial completed an iteration\nexperiment directory   {exp_dir}")
        return
    top = best_return(best)
    metrics = best.metrics
    try:  # the checkpoint python -m analysis and the report pick (by evaluation return)
        chosen = choose_best(grid)
        checkpoint = chosen.checkpoint.path + (
            f" ({metric_label(chosen.metric)} {chosen.value:.1f} when saved)"
            if not math.isnan(chosen.value)
            else ""
        )
        if seeds:
            checkpoint += f", seed {seed_of(chosen.result)}"
    except AnalysisError:
        checkpoint = "none"
    solved = "solved" if episode_returns.solved(metrics, stop_return) else "not solved"
    shown_return = (
        f"{top:.1f} (mean of last 100 episodes; goal {stop_return:g}: {solved})"
        if not math.isnan(top)
        else f"none yet: no episode finished (goal {stop_return:g})"
    )
    training_s = metrics.get("time_total_s", 0)
    lines = [
        ("best return", shown_return),
        ("iterations", f"{metrics.get('training_iteration', 0)}"),
        ("timesteps", f"{int(metrics.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)):,}"),
        ("wall time", f"{wall_s:.1f} s from {since} ({_training(training_s, resumed)})"),
        ("greedy evaluation", greedy_summary(trial_outcome(best, stop_return)) or "none"),
        ("best checkpoint", checkpoint),
        ("videos", _videos_line(best.path)),
        ("experiment directory", exp_dir),
        ("analyse it", f"python -m analysis {exp_dir}"),
    ]
    if sweep:
        best_row = table[table["trial"] == metrics.get("trial_id")].iloc[0]
        varying = ", ".join(f"{k}={best_row[k]}" for k in varying_keys(grid))
        lines.insert(0, ("best config", varying))
    print_pairs(lines)


def _training(training_s: float, resumed: bool) -> str:
    """What the training time counts: after a resume, every run of the experiment."""
    if resumed:
        return f"training {training_s:.1f} s over all runs of this experiment, earlier ones too"
    return f"training {training_s:.1f} s"


def print_seeds(grid: tune.ResultGrid, goal: float) -> None:
    """Each seed's outcome, then the IQM over seeds with its 95 % bootstrap CI."""
    table = seeds_table(grid, goal)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print("\n" + shown_seeds(table).to_string(index=False))
    solved = int(table["time to goal (s)"].notna().sum()) if "time to goal (s)" in table else 0
    print(f"\nover {len(table)} seeds (IQM [95 % bootstrap CI]); {solved} reached the goal:")
    print_pairs([(key, str(value)) for key, value in aggregate(table).items()])


def _videos_line(trial_path: str) -> str:
    if is_remote(trial_path):  # not listed from here
        return f"{trial_path}/videos/"
    videos = sorted(Path(trial_path, "videos").glob("*.mp4"))
    if not videos:
        return "none"
    return f"{len(videos)} MP4s in {videos[0].parent} (newest: {videos[-1].name})"


def print_pairs(lines: list[tuple[str, str]], width: int | None = None) -> None:
    width = width or max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}   {value}")


def resume_command(script_path: str, argv: list[str]) -> str:
    """The command that continues this experiment; ``{name}`` stands for its name."""
    again = [a for a in argv if a != "--resume"]
    if "--name" not in again:
        again += ["--name", "{name}"]
    return f"python {script_path} {' '.join(again)} --resume"


def training_stopped(error: BaseException, storage: str) -> str:
    """One line for an error that stopped Tune itself: a full --storage by name, else the
    error's root cause."""
    return storage_full(storage) or f"training stopped: {root_cause(error)}"
