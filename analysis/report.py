"""Analyse an experiment: best checkpoint → restored policy → episodes, videos, curves, report.

Everything lands in ``<experiment>/analysis/`` and one self-contained ``report.html`` in
the experiment directory (images and videos embedded, so it opens offline anywhere).
"""

from __future__ import annotations

import base64
import enum
import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from analysis.curves import plot_curves, plot_hyperparameters, plot_seeds
from analysis.experiment import (
    EVAL_RETURN,
    Best,
    choose_best,
    flat_config,
    load_experiment,
    trials_table,
    varying_keys,
)
from analysis.policy import Episodes, Policy, checkpoint_config, record
from analysis.reel import evaluation_clips, progression_reel
from analysis.seeds import (
    aggregate,
    greedy_summary,
    seed_of,
    seeds_table,
    shown_seeds,
    trial_outcome,
)
from suite.stats import Interval

REPORT = "report.html"
OUTPUTS = "analysis"  # folder in the experiment directory
# Config entries that differ from RLlib's defaults only in form, or that are our plumbing.
_NOT_SETTINGS = {"callbacks", "policies", "simple_optimizer", "min_time_s_per_iteration"}


@dataclass
class Analysis:
    """What ``analyse`` found and wrote."""

    experiment: Path
    best: Best
    table: pd.DataFrame
    settings: dict[str, Any]
    episodes: Episodes | None = None
    explore: bool = False
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seeds: pd.DataFrame | None = None  # one row per seed, where the trials differ by seed
    over_seeds: dict[str, Interval] = field(default_factory=dict)

    @property
    def report(self) -> Path:
        return self.files[REPORT]


def analyse(
    experiment: str | Path,
    *,
    metric: str | None = None,
    mode: str = "max",
    episodes: int = 10,
    explore: bool = False,
    video: bool = True,
    virtual_display: str = "auto",
    goal: float | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Analysis:
    """Pick the best checkpoint, restore it with its connectors, evaluate and report.

    Trials that differ by seed (``--seeds``) also get each seed's outcome and the IQM over
    seeds with its CI; ``goal`` (the return that counts as solved) adds the time and steps
    to it.

    Raises ``AnalysisError`` (one line) when the directory cannot be analysed, and
    ``RestoreError`` when the chosen checkpoint cannot be restored.
    """
    experiment = Path(experiment)
    grid = load_experiment(experiment)
    best = choose_best(grid, metric, mode)
    out = experiment / OUTPUTS
    out.mkdir(exist_ok=True)
    found = Analysis(
        experiment=experiment,
        best=best,
        table=trials_table(grid, best.metric, mode),
        settings=settings(best),
    )
    found.files["trials.csv"] = out / "trials.csv"
    found.table.to_csv(found.files["trials.csv"], index=False)

    checkpoint = best.checkpoint.path
    if episodes > 0:
        progress(f"evaluating {checkpoint} over {episodes} episodes")
        policy = Policy(
            checkpoint, video_episodes=1 if video else 0, virtual_display=virtual_display
        )
        try:
            found.episodes = policy.play(episodes, explore=explore)
            found.explore = explore
            clips, warnings = policy.videos()
        finally:
            policy.stop()
        found.warnings += warnings
        if clips:
            found.files["after_training.mp4"] = _write(out / "after_training.mp4", clips[0])
    if video:
        progress("recording the policy before training, for contrast")
        before = out / "before_training.mp4"
        _, warnings = record(checkpoint, before, restore=False, virtual_display=virtual_display)
        found.warnings += warnings
        if before.exists():
            found.files["before_training.mp4"] = before
        clips = evaluation_clips(best.result.path)
        frame = best.result.metrics_dataframe
        for clip in clips:
            rows = frame[frame["training_iteration"] == clip.iteration]
            if not rows.empty and NUM_ENV_STEPS_SAMPLED_LIFETIME in rows:
                clip.timesteps = int(rows[NUM_ENV_STEPS_SAMPLED_LIFETIME].iloc[0])
        if clips:
            progress(f"joining {len(clips)} evaluation videos into the progression reel")
            found.files["progression.mp4"] = progression_reel(clips, out / "progression.mp4")

    found.files["curves.png"] = plot_curves(grid, best.result, out / "curves.png")
    if len({seed_of(result) for result in grid}) > 1:
        found.seeds = seeds_table(grid, math.nan if goal is None else goal)
        found.over_seeds = aggregate(found.seeds)
        found.files["seeds.png"] = plot_seeds(grid, out / "seeds.png")
    sweep_png = plot_hyperparameters(grid, out / "hyperparameters.png", best.metric, mode)
    if sweep_png:
        found.files["hyperparameters.png"] = sweep_png
    found.files[REPORT] = write_html(found, grid_size=len(list(grid)), varying=varying_keys(grid))
    return found


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def settings(best: Best) -> dict[str, Any]:
    """The best trial's settings that differ from RLlib's defaults for its algorithm."""
    config = flat_config(best.result.config or {})
    try:
        defaults = flat_config(type(checkpoint_config(best.checkpoint.path))().to_dict())
    except Exception:  # no readable checkpoint config: show everything
        defaults = {}
    return {
        key.lstrip("_"): value
        for key, value in config.items()
        if key not in _NOT_SETTINGS
        and not key.endswith("__")  # Tune's own entries (stdout_file__)
        and _plain(value) != _plain(defaults.get(key, object()))
    }


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---- the HTML report ----------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
.videos { display: flex; flex-wrap: wrap; gap: 1.2em; }
figure { margin: 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; } video { max-width: 480px; background: #000; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _video(path: Path, title: str) -> str:
    return (
        f'<figure><video controls loop muted playsinline src="{_data_uri(path, "video/mp4")}">'
        f"</video><figcaption>{html.escape(title)}</figcaption></figure>"
    )


def _image(path: Path, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{_data_uri(path, "image/png")}">'


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs
    )


def write_html(found: Analysis, *, grid_size: int, varying: list[str]) -> Path:
    """Write the one-file ``report.html`` into the experiment directory."""
    best, files = found.best, found.files
    summary = [
        ("experiment", found.experiment.resolve()),
        ("trials", grid_size),
        ("best trial", Path(best.result.path).name),
        *([("best trial's seed", seed_of(best.result))] if found.seeds is not None else []),
        ("best checkpoint", best.checkpoint.path),
        ("chosen by", best.chosen_by),
    ]
    greedy = greedy_summary(trial_outcome(best.result, math.nan))
    if greedy:
        summary.append(("best trial's greedy evaluation", greedy))
    if found.episodes:
        policy = "exploring" if found.explore else "greedy"
        summary.append((f"restored policy ({policy})", str(found.episodes)))
    if best.metric != EVAL_RETURN and found.episodes is None:
        summary.append(("restored policy", "not evaluated (--episodes 0)"))
    for warning in found.warnings:
        summary.append(("warning", warning))

    videos = [
        (name, title)
        for name, title in (
            ("before_training.mp4", "before training (initial policy)"),
            ("after_training.mp4", "after training (best checkpoint, restored)"),
            ("progression.mp4", "progression over training (evaluation videos, captioned)"),
        )
        if name in files
    ]
    table = found.table.copy()
    if "checkpoint" in table:
        table["checkpoint"] = table["checkpoint"].map(lambda p: Path(p).name if p else "")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Report: {html.escape(found.experiment.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Report: {html.escape(found.experiment.name)}</h1>",
        f"<table>{_rows(summary)}</table>",
    ]
    if videos:
        parts.append("<h2>Videos</h2><div class='videos'>")
        parts += [_video(files[name], title) for name, title in videos]
        parts.append("</div>")
    parts.append("<h2>Learning curves</h2>" + _image(files["curves.png"], "learning curves"))
    if found.seeds is not None:
        seeds = shown_seeds(found.seeds)
        over = [(f"{key}: IQM [95 % CI]", str(value)) for key, value in found.over_seeds.items()]
        parts.append(
            f"<h2>Seeds</h2><p>{len(seeds)} seeds; the interquartile mean (IQM) over them with "
            "its 95 % bootstrap confidence interval, and each seed.</p>"
            + _image(files["seeds.png"], "return over seeds: IQM with its CI band")
            + f"<table>{_rows(over)}</table>"
            + seeds.to_html(index=False, border=0)
        )
    if "hyperparameters.png" in files:
        parts.append(
            f"<h2>Hyperparameters ({', '.join(map(html.escape, varying))})</h2>"
            + _image(files["hyperparameters.png"], "hyperparameters against result")
        )
    parts.append("<h2>Trials</h2>" + table.to_html(index=False, na_rep="", border=0))
    parts.append(
        "<h2>Best config</h2><p>Settings of the best trial that differ from RLlib's defaults."
        f"</p><table>{_rows(sorted(found.settings.items()))}</table>"
    )
    parts.append("</body></html>")
    path = found.experiment / REPORT
    tmp = path.with_suffix(".html.part")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
