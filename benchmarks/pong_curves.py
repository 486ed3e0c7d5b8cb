"""Pong return against wall-clock minutes from process start, over seeds, from the store:
the IQM of the training return (last 100 episodes) with its 95 % bootstrap CI as a band,
each seed a faint line, and each seed's greedy rounds (the mean of the round's episodes) as
dots.

    python benchmarks/pong_curves.py pong_ppo_run benchmarks/pong_ppo_curves.png
    python benchmarks/pong_curves.py pong_pg_run benchmarks/pong_pg_curves.png

Reads the newest campaign of the benchmark in ``benchmarks/results/`` and the curve.csv of
each of its runs (``benchmarks/curves/``, written by ``benchmarks/pong_run.py``).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.seeds import curve_band  # noqa: E402
from benchmarks.render_results import machine, newest_campaign  # noqa: E402
from benchmarks.store import load  # noqa: E402
from callbacks import RETURN_METRIC  # noqa: E402


def read_curve(path: Path) -> pd.DataFrame:
    with open(path, newline="") as handle:
        rows = [
            {key: float(value) if value not in ("", "None") else math.nan
             for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", help="e.g. pong_ppo_run")
    parser.add_argument("out")
    args = parser.parse_args()
    campaign = newest_campaign(load(), args.benchmark)
    if not campaign:
        raise SystemExit(f"pong_curves.py: no records of {args.benchmark} in the store")
    fig, ax = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
    frames = []
    for index, record in enumerate(campaign):
        frame = read_curve(REPO / record["figures"]["curve_csv"])
        frames.append(frame)
        trained = frame.dropna(subset=[RETURN_METRIC])
        greedy = frame.dropna(subset=["greedy_episodes"])
        color = f"C{index + 1}"
        ax.plot(trained["minute"], trained[RETURN_METRIC], color=color, lw=0.8, alpha=0.45)
        ax.scatter(greedy["minute"], greedy["greedy"], color=color, s=12, alpha=0.7,
                   label=f"seed {record['seed']}: greedy rounds (mean of the round)")  # fmt: skip
    band = curve_band(frames, x="minute")
    ax.fill_between(band["minute"], band["low"], band["high"], color="C0", alpha=0.25,
                    label="95 % bootstrap CI")  # fmt: skip
    ax.plot(band["minute"], band["iqm"], color="C0", lw=2.4,
            label=f"training return (last 100), IQM over {len(frames)} seeds")  # fmt: skip
    ax.axhline(0, color="#bbbbbb", lw=0.8)
    ax.set(xlabel="minutes from process start", ylabel="episode return", ylim=(-21.5, 21.5))
    first = campaign[0]
    ax.set_title(
        f"{first['system']}, {first['date']} at {first['commit']}\n{machine(first)}", fontsize=8
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # off the curves
    ax.grid(alpha=0.3)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
