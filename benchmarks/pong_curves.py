"""Pong return against wall-clock minutes from process start, several runs on one plot:
training return (last 100 episodes) as lines, greedy evaluation returns as dots.

    python benchmarks/pong_curves.py OUT.png LABEL=EXPERIMENT/curve.csv ...

The curve.csv files are what ``benchmarks/pong_run.py`` writes.
"""

from __future__ import annotations

import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_curve(path: str) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [
            {key: float(value) if value not in ("", "None") else math.nan
             for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("runs", nargs="+", metavar="LABEL=CURVE_CSV")
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(12, 4.5), constrained_layout=True)
    for index, run in enumerate(args.runs):
        label, _, path = run.partition("=")
        rows, color = read_curve(path), f"C{index}"
        trained = [r for r in rows if not math.isnan(r["return_last100"])]
        greedy = [r for r in rows if not math.isnan(r["greedy"])]
        ax.plot(
            [r["minute"] for r in trained],
            [r["return_last100"] for r in trained],
            color=color,
            label=f"{label}: training return (last 100)",
        )
        ax.scatter(
            [r["minute"] for r in greedy],
            [r["greedy"] for r in greedy],
            color=color,
            s=14,
            label=f"{label}: greedy evaluation",
        )
    ax.axhline(0, color="#bbbbbb", lw=0.8)
    ax.set(xlabel="minutes from process start", ylabel="episode return", ylim=(-21.5, 21.5))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # off the curves
    ax.grid(alpha=0.3)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
