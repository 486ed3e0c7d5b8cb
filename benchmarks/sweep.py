"""The RLlib tutorial's 20-trial CartPole grid, end to end, on this machine.

Runs ``experiments/cartpole_ppo.py --sweep`` as a user types it (fifo, and with
``--scheduler asha`` when asked) and prints the total wall time from process start to exit,
the trials solved and the best config, next to the tutorial's figure: 3,658 s on 12 CPUs.

    python benchmarks/sweep.py [--scheduler fifo asha] [--num-samples 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TUTORIAL_S = 3658  # the tutorial's 20 trials on 12 CPUs


def run_sweep(storage: str, scheduler: str, num_samples: int) -> dict:
    name = f"sweep_{scheduler}"
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable, str(REPO / "experiments" / "cartpole_ppo.py"), "--sweep",
            "--num-samples", str(num_samples), "--scheduler", scheduler, "--no-report",
            "--storage", storage, "--name", name,
        ],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows = _table_rows(proc.stdout)
    best = re.search(r"^best config +(.+)$", proc.stdout, re.M)
    return {
        "scheduler": scheduler,
        "trials": len(rows),
        "solved": sum(1 for r in rows if r >= 450),
        "seconds": seconds,
        "best config": best.group(1) if best else "?",
    }


def _table_rows(out: str) -> list[float]:
    """The best-return column of the printed trials table."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if " best return " in line and "trial" in line)
    column = lines[header].index("best return") + len("best return")
    returns = []
    for line in lines[header + 1 :]:
        if not line.strip() or not re.match(r"^\s*\w{5}_\d{5}", line):
            break
        returns.append(float(line[:column].split()[-1]))
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduler", nargs="+", default=["fifo"], choices=["fifo", "asha"])
    parser.add_argument("--num-samples", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    results = []
    with tempfile.TemporaryDirectory() as storage:
        for scheduler in args.scheduler:
            print(f"... {scheduler}: {4 * args.num_samples} trials", flush=True)
            results.append(run_sweep(storage, scheduler, args.num_samples))
    print(f"\n{'run':<28} {'trials':>6} {'solved':>6} {'wall s':>8} {'vs tutorial':>12}")
    print(f"{'RLlib tutorial, 12 CPUs':<28} {20:>6} {'?':>6} {TUTORIAL_S:>8} {1.0:>11.2f}x")
    for r in results:
        label = f"ours --sweep, {r['scheduler']}"
        ratio = r["seconds"] / TUTORIAL_S
        print(f"{label:<28} {r['trials']:>6} {r['solved']:>6} {r['seconds']:>8.0f} {ratio:>11.2f}x")
    for r in results:
        print(f"best config ({r['scheduler']}): {r['best config']}")


if __name__ == "__main__":
    main()
