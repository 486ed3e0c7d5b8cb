"""Watch an experiment while it trains: fresh learning curves and the newest evaluation video.

``watch(dir)`` in a notebook redraws the curves and plays the newest video inline, in one
output that is updated in place (``LiveView``, which ``train()``'s progress uses too);
``python -m analysis --watch DIR`` in a terminal prints one line per new result or video
and keeps ``DIR/analysis/live_curves.png`` current. Both stop when every trial has ended
(Tune marks a trial's last result ``done``), or on Ctrl-C / interrupt.

Only files are read (each trial's ``result.json`` and ``videos/``), so it works from any
machine that sees the experiment directory, while Tune is still writing it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from analysis.experiment import EVAL_RETURN
from callbacks import RETURN_METRIC

LIVE_CURVES = "live_curves.png"


@dataclass
class Snapshot:
    """What the experiment directory holds right now."""

    rows: dict[str, list[dict]] = field(default_factory=dict)  # trial dir name -> results
    videos: list[Path] = field(default_factory=list)  # oldest first
    failed: set[str] = field(default_factory=set)  # trials whose last word is an error

    @property
    def finished(self) -> bool:
        return bool(self.rows) and all(
            name in self.failed or (rows and rows[-1].get("done"))
            for name, rows in self.rows.items()
        )


def read_results(trial: Path) -> list[dict]:
    """A trial's results so far, from its result.json, even while Tune is writing it."""
    rows = []
    try:
        text = (trial / "result.json").read_text()
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the line Tune is writing right now
            break
    return rows


def snapshot(experiment: Path) -> Snapshot:
    trials = sorted(p for p in experiment.iterdir() if p.is_dir() and (p / "params.json").exists())
    videos = sorted(
        (v for trial in trials for v in (trial / "videos").glob("*.mp4")),
        key=lambda v: v.stat().st_mtime,
    )
    return Snapshot(
        rows={t.name: read_results(t) for t in trials},
        videos=videos,
        failed={t.name for t in trials if _failed_last(t)},
    )


def _failed_last(trial: Path) -> bool:
    """error.txt written after the last result: the trial ended in an error (for now)."""
    try:
        error = (trial / "error.txt").stat().st_mtime
    except OSError:
        return False
    try:
        return error >= (trial / "result.json").stat().st_mtime
    except OSError:
        return True


def curves_png(snap: Snapshot) -> bytes:
    """Return vs env steps for every trial so far (training, and greedy evaluation dots)."""
    from analysis.curves import plt  # matplotlib (Agg), loaded on the first redraw

    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for name, rows in snap.rows.items():
        if not rows:
            continue
        frame = pd.json_normalize(rows, sep="/")
        if RETURN_METRIC in frame and NUM_ENV_STEPS_SAMPLED_LIFETIME in frame:
            (line,) = ax.plot(
                frame[NUM_ENV_STEPS_SAMPLED_LIFETIME], frame[RETURN_METRIC], label=name[:40]
            )
            if EVAL_RETURN in frame:
                ax.scatter(
                    frame[NUM_ENV_STEPS_SAMPLED_LIFETIME],
                    frame[EVAL_RETURN],
                    color=line.get_color(),
                    s=14,
                )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(
        "lines: mean of the last 100 training episodes; dots: greedy evaluation", fontsize=9
    )
    ax.grid(alpha=0.3)
    if len(snap.rows) <= 8:
        ax.legend(fontsize=7, loc="lower right")
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=90)
    plt.close(fig)
    return png.getvalue()


def plot_live(snap: Snapshot, out: Path) -> Path:
    """``curves_png`` written to ``out``, whole or not at all (a reader never sees half)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.png")
    tmp.write_bytes(curves_png(snap))
    tmp.replace(out)
    return out


def in_notebook() -> bool:
    """Whether this runs in a Jupyter (or Colab) kernel, where output can be redrawn."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return getattr(shell, "kernel", None) is not None


class LiveView:
    """One notebook output, redrawn in place: status lines, the curves, the newest video."""

    def __init__(self) -> None:
        self._handle = None
        self._video: tuple[Path, str] | None = None  # the video shown, and its HTML

    def show(self, status: list[str], curves: bytes | None, video: Path | None) -> None:
        from IPython.display import HTML, display

        from analysis.notebook import video_html

        parts = [f"<pre style='margin:0'>{html.escape(chr(10).join(status))}</pre>"]
        if curves:
            data = base64.b64encode(curves).decode("ascii")
            parts.append(f'<img alt="learning curves" src="data:image/png;base64,{data}">')
        if video is not None and video.is_file():
            if self._video is None or self._video[0] != video:  # encoded once, not per redraw
                self._video = (video, video_html(video))
            parts.append(f"<p>newest evaluation video: {html.escape(video.name)}</p>")
            parts.append(self._video[1])
        page = HTML("\n".join(parts))
        if self._handle is None:
            self._handle = display(page, display_id=True)
        else:
            self._handle.update(page)


@dataclass
class Update:
    """One change the watcher saw: new results (and redrawn curves) and/or a new video."""

    iterations: int
    timesteps: int
    best_return: float
    curves: Path | None
    video: Path | None


def updates(
    experiment: str | Path, *, interval: float = 2.0, timeout: float | None = None
) -> Iterator[Update]:
    """Yield an Update whenever results or videos change, until the experiment ends."""
    experiment = Path(experiment)
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    seen_rows, seen_video = -1, None
    while time.monotonic() < deadline:
        if experiment.is_dir():
            snap = snapshot(experiment)
            count = sum(len(rows) for rows in snap.rows.values())
            newest = snap.videos[-1] if snap.videos else None
            if count != seen_rows or newest != seen_video:
                latest = [rows[-1] for rows in snap.rows.values() if rows]
                curves = (
                    plot_live(snap, experiment / "analysis" / LIVE_CURVES)
                    if count != seen_rows
                    else None
                )
                returns = [r.get(RETURN_METRIC) for r in latest if r.get(RETURN_METRIC) is not None]
                yield Update(
                    iterations=max((r.get("training_iteration", 0) for r in latest), default=0),
                    timesteps=sum(int(r.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)) for r in latest),
                    best_return=max(returns, default=math.nan),
                    curves=curves,
                    video=newest if newest != seen_video else None,
                )
                seen_rows, seen_video = count, newest
            if snap.finished:
                return
        time.sleep(interval)


def watch_terminal(
    experiment: str | Path,
    *,
    interval: float = 2.0,
    timeout: float | None = None,
    out: Callable[[str], None] = print,
) -> None:
    """Print one line per update; the curves go to ``analysis/live_curves.png``."""
    if not Path(experiment).is_dir():
        out(f"waiting for {experiment} to appear")
    for update in updates(experiment, interval=interval, timeout=timeout):
        parts = [f"iter {update.iterations:>4}", f"steps {update.timesteps:>9,}"]
        if not math.isnan(update.best_return):
            parts.append(f"return(last 100) {update.best_return:7.1f}")
        if update.curves:
            parts.append(f"curves {update.curves}")
        if update.video:
            parts.append(f"new video {update.video}")
        out("  ".join(parts))
    out(f"experiment ended: {experiment}")


def watch(experiment: str | Path, *, interval: float = 2.0, timeout: float | None = None) -> None:
    """In a notebook: redraw the curves and play the newest evaluation video as they come."""
    view, curves, newest_video = LiveView(), None, None
    for update in updates(experiment, interval=interval, timeout=timeout):
        newest_video = update.video or newest_video
        if update.curves:
            curves = update.curves.read_bytes()
        status = (
            f"iteration {update.iterations}, {update.timesteps:,} steps, "
            f"return(last 100) {update.best_return:.1f}"
        )
        view.show([status], curves, newest_video)
