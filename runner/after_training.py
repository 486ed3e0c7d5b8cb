"""After training: the best checkpoint restored, evaluated and reported (``analysis.analyse``),
and what the console says of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis import AnalysisError
from runner.console import print_pairs
from suite.uris import is_remote


def report_after_training(storage: str, name: str, **options: Any) -> Any:
    """Restore the best checkpoint, evaluate it, write report.html (``analysis.analyse``);
    say where it all is, and return what ``analyse`` found. A report that cannot be made is a
    warning (and None): training went fine."""
    if is_remote(storage):
        print("report: skipped for remote storage; run python -m analysis on a local copy")
        return None
    from analysis import RestoreError, analyse  # restoring and plotting: only now, not at start

    try:
        found = analyse(
            Path(storage, name), progress=lambda line: print(f"report: {line}", flush=True),
            **options,
        )  # fmt: skip
    except (AnalysisError, RestoreError) as err:
        print(f"report: not written: {err}")
        return None
    lines = []
    if found.episodes:
        lines.append(("restored policy", f"{found.episodes} (greedy)"))
    lines += [(name, str(path)) for name, path in found.files.items() if name.endswith(".mp4")]
    lines += [("warning", warning) for warning in found.warnings]
    lines.append(("report", str(found.report)))
    print_pairs(lines, width=20)
    return found
