"""Time to solve CartPole-v1: our default PPO script against SB3 PPO (rl-zoo hyperparameters).

Both run as fresh processes on this machine with the same stop rule (mean return of the
last 100 training episodes ≥ 450), timed from process start to solved. Runs alternate.

    pip install -e ".[bench]" && python benchmarks/cartpole_time_to_solve.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_ours(storage: str, index: int) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "cartpole_ppo.py"),
            "--storage",
            storage,
            "--name",
            f"bench_{index}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout
    wall = re.search(r"wall time +([\d.]+) s from process start \(training ([\d.]+) s\)", out)
    steps = re.search(r"timesteps +([\d,]+)", out)
    if proc.returncode != 0 or not wall:
        raise SystemExit(f"our run failed:\n{out[-2000:]}\n{proc.stderr[-2000:]}")
    return {
        "solved": ": solved)" in out,
        "seconds": float(wall.group(1)),
        "training_s": float(wall.group(2)),
        "timesteps": int(steps.group(1).replace(",", "")),
    }


def run_sb3() -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sb3_cartpole_ppo.py")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise SystemExit(f"SB3 run failed (pip install -e '.[bench]'?):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    ours, sb3 = [], []
    with tempfile.TemporaryDirectory() as storage:
        for i in range(args.rounds):
            # Alternate who goes first, so drift in the machine hits both alike.
            order = [("ours", lambda i=i: run_ours(storage, i)), ("sb3", run_sb3)]
            for name, fn in order if i % 2 == 0 else order[::-1]:
                result = fn()
                (ours if name == "ours" else sb3).append(result)
                print(
                    f"round {i + 1} {name:<4}  {result['seconds']:6.1f} s  "
                    f"{result['timesteps']:>7,} steps  solved={result['solved']}",
                    flush=True,
                )
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| system | median time to solve | runs (s) | median steps | solved |")
    print("|---|---|---|---|---|")
    for name, rows in (
        ("rayrl-suite cartpole_ppo.py (RLlib PPO via Tune)", ours),
        ("SB3 PPO, rl-zoo hyperparameters", sb3),
    ):
        times = ", ".join(f"{r['seconds']:.1f}" for r in rows)
        print(
            f"| {name} | {statistics.median(r['seconds'] for r in rows):.1f} s | {times} | "
            f"{statistics.median(r['timesteps'] for r in rows):,.0f} | "
            f"{sum(r['solved'] for r in rows)}/{len(rows)} |"
        )
    ratio = statistics.median(r["seconds"] for r in ours) / statistics.median(
        r["seconds"] for r in sb3
    )
    training = statistics.median(r["training_s"] for r in ours)
    print(
        f"\nratio ours/SB3 (median time to solve): {ratio:.2f}   "
        f"(ours: median {training:.1f} s of it inside training iterations)"
    )


if __name__ == "__main__":
    main()
