"""``python -m analysis EXPERIMENT_DIR``: best checkpoint, restored and evaluated, and a report.

Prints the trials table and the evaluation of the best checkpoint (restored with its
connectors), and writes videos, curves, trials.csv and a self-contained report.html.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

import pandas as pd

from analysis import AnalysisError
from analysis.policy import RestoreError
from analysis.report import analyse
from analysis.watch import watch_terminal


def _flushed(line: str) -> None:
    print(line, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("experiment_dir", help="e.g. results/cartpole_ppo_2026-11-21_20-03-01")
    parser.add_argument(
        "--metric",
        default=None,
        help="choose the best checkpoint by this result (default: the evaluation return, "
        "else the training return of the last 100 episodes)",
    )
    parser.add_argument("--mode", choices=["max", "min"], default="max")
    parser.add_argument(
        "--episodes", type=int, default=10, help="evaluation episodes to play (default 10)"
    )
    parser.add_argument(
        "--explore", action="store_true", help="sample actions instead of the greedy policy"
    )
    parser.add_argument(
        "--no-video", dest="video", action="store_false", help="no MP4s (before/after/reel)"
    )
    parser.add_argument("--virtual-display", action="store_true", help="always render inside Xvfb")
    parser.add_argument(
        "--goal",
        type=float,
        default=None,
        help="the return that counts as solved (the script's --stop-return): the seeds table "
        "gives each seed's time and steps to it",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="follow a running experiment instead: a line per new result or video, "
        "curves in DIR/analysis/live_curves.png, until it ends",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="--watch: seconds between looks"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # RLlib warns about its own deprecations while rebuilding a policy: not the user's concern.
    noisy = ("ray.rllib", "ray._common.deprecation")
    for name in [n for n in logging.root.manager.loggerDict if n.startswith(noisy)]:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*Overriding environment.*")
    if args.episodes < 0:
        print("python -m analysis: error: --episodes must be >= 0", file=sys.stderr)
        return 2
    if args.watch:
        try:
            watch_terminal(args.experiment_dir, interval=args.interval, out=_flushed)
        except KeyboardInterrupt:
            pass
        return 0
    try:
        found = analyse(
            args.experiment_dir,
            metric=args.metric,
            mode=args.mode,
            episodes=args.episodes,
            explore=args.explore,
            video=args.video,
            virtual_display="always" if args.virtual_display else "auto",
            goal=args.goal,
            progress=lambda line: print(f"... {line}", flush=True),
        )
    except (AnalysisError, RestoreError) as err:
        print(f"python -m analysis: error: {err}", file=sys.stderr)
        return 2
    best = found.best
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print("\n" + found.table.drop(columns=["checkpoint"]).to_string(index=False))
    lines = [
        ("best trial", best.result.path),
        ("best checkpoint", best.checkpoint.path),
        ("chosen by", best.chosen_by),
    ]
    if found.episodes:
        policy = "exploring" if found.explore else "greedy"
        lines.append((f"restored ({policy})", str(found.episodes)))
    lines += [(name, str(path)) for name, path in found.files.items() if name != "report.html"]
    lines += [("warning", warning) for warning in found.warnings]
    lines.append(("report", str(found.report)))
    width = max(len(key) for key, _ in lines)
    print()
    for key, value in lines:
        print(f"{key:<{width}}   {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
