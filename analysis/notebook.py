"""Inline display in Jupyter or Colab: ``show_video(path)``, ``show_report(experiment_dir)``.

What the notebook recipes' ``show_video`` did, without globbing for the newest file: the
video is embedded in the page, so it plays even when the notebook's files are remote.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from analysis.report import REPORT


def video_html(path: str | Path, width: int = 480) -> str:
    """An HTML5 player with the MP4 at ``path`` embedded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such video: {path}")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<video controls loop autoplay muted playsinline width="{width}" '
        f'src="data:video/mp4;base64,{data}" title="{html.escape(path.name)}"></video>'
    )


def report_html(experiment_dir: str | Path, height: int = 900) -> str:
    """The experiment's report.html in a frame of its own (its styles stay inside)."""
    report = Path(experiment_dir) / REPORT
    if not report.is_file():
        raise FileNotFoundError(
            f"no {REPORT} in {experiment_dir}; run: python -m analysis {experiment_dir}"
        )
    page = html.escape(report.read_text(encoding="utf-8"), quote=True)
    return f'<iframe srcdoc="{page}" style="width:100%;height:{height}px;border:0"></iframe>'


def show_video(path: str | Path, width: int = 480) -> None:
    """Play the MP4 at ``path`` inline in the notebook."""
    from IPython.display import display

    display({"text/html": video_html(path, width)}, raw=True)


def show_report(experiment_dir: str | Path, height: int = 900) -> None:
    """Show the experiment's report inline in the notebook."""
    from IPython.display import display

    display({"text/html": report_html(experiment_dir, height)}, raw=True)
