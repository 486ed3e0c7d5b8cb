"""``python -m analysis EXPERIMENT_DIR``: the trials table and the best checkpoint."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from analysis import AnalysisError, best_checkpoint, best_result, load_experiment, trials_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("experiment_dir", help="e.g. results/cartpole_ppo_2026-11-21_20-03-01")
    args = parser.parse_args(argv)
    try:
        grid = load_experiment(args.experiment_dir)
        table = trials_table(grid)
        best = best_result(grid)
    except AnalysisError as err:
        print(f"python -m analysis: error: {err}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        print(table.drop(columns=["checkpoint"]).to_string(index=False))
    print(f"\nbest trial       {best.path}")
    checkpoint = best_checkpoint(best)
    print(f"best checkpoint  {checkpoint.path if checkpoint else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
