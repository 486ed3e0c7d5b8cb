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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/, from a checkout even without the install

from analysis.experiment import (  # noqa: E402
    best_result,
    flat_config,
    load_experiment,
    trials_table,
    varying_keys,
)
from benchmarks import store  # noqa: E402

BENCHMARK = "cartpole_sweep"
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
    grid = load_experiment(Path(storage, name))
    returns = trials_table(grid)["best return"]
    best = best_result(grid).config or {}  # by the training return, as the summary picks
    varying = ", ".join(f"{k}={flat_config(best).get(k)}" for k in varying_keys(grid))
    return {
        "scheduler": scheduler,
        "trials": len(returns),
        "solved": int((returns >= 450).sum()),
        "seconds": seconds,
        "best config": varying,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduler", nargs="+", default=["fifo"], choices=["fifo", "asha"])
    parser.add_argument("--num-samples", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"machine: {store.calibration()}", flush=True)
    campaign = store.new_campaign(BENCHMARK)
    results = []
    with tempfile.TemporaryDirectory() as storage:
        for scheduler in args.scheduler:
            print(f"... {scheduler}: {4 * args.num_samples} trials", flush=True)
            results.append(run_sweep(storage, scheduler, args.num_samples))
            store.append(BENCHMARK, f"--sweep --scheduler {scheduler}", results[-1],
                         campaign=campaign)  # fmt: skip
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
