"""Time to solve CartPole-v1: our default PPO script against SB3 PPO (rl-zoo hyperparameters).

Both run as fresh processes on this machine with the same stop rule (mean return of the
last 100 training episodes ≥ 450), timed from process start to solved. Runs alternate. Our
figures come from the trial's result.json: solved is its last row's return, and the time is
from starting the process to that row being written (the file's modification time).

    pip install -e ".[bench]" && python benchmarks/cartpole_time_to_solve.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # callbacks/, from a checkout even without the install


def run_ours(storage: str, name: str, *extra: str) -> dict:
    """One run of experiments/cartpole_ppo.py as a user types it; figures from its result.json."""
    from analysis.watch import read_results
    from callbacks import RETURN_METRIC

    started = time.time()
    proc = subprocess.run(
        [
            sys.executable, str(REPO / "experiments" / "cartpole_ppo.py"),
            "--storage", storage, "--name", name, "--no-report", *extra,
        ],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    results = list(Path(storage, name).glob("*/result.json"))
    if proc.returncode != 0 or not results:
        raise SystemExit(f"our run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    last = read_results(results[0].parent)[-1]
    return {
        "solved": last[RETURN_METRIC] >= 450,
        "seconds": results[0].stat().st_mtime - started,
        "training_s": last["time_total_s"],
        "timesteps": last["num_env_steps_sampled_lifetime"],
        "rounds_s": evaluation_rounds(Path(storage) / name),
    }


def evaluation_rounds(experiment: Path) -> list[float]:
    """Seconds each regular evaluation round added to its iteration (beyond the median
    iteration without one), from the trial's result.json; the final round, which runs after
    its iteration's clock stopped, is not among them."""
    from callbacks.final_evaluation import evaluation_return, ran_evaluation

    rows = [
        json.loads(line)
        for path in experiment.glob("*/result.json")
        for line in path.read_text().splitlines()
    ]
    interval = rows[0].get("config", {}).get("evaluation_interval") if rows else None
    if not interval:
        return []
    evaluated = [
        ran_evaluation(row["training_iteration"], evaluation_return(row), interval) for row in rows
    ]
    plain = [row["time_this_iter_s"] for row, ev in zip(rows, evaluated, strict=True) if not ev]
    base = median(plain)
    return [
        row["time_this_iter_s"] - base
        for row, ev in zip(rows[:-1], evaluated[:-1], strict=True)
        if ev
    ]


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


SYSTEMS = {
    "rayrl-suite cartpole_ppo.py, defaults (evaluation + video every 50 iterations)": (),
    "rayrl-suite cartpole_ppo.py --eval-interval 0 (training only, as SB3)": (
        "--eval-interval",
        "0",
    ),
    "SB3 PPO, rl-zoo hyperparameters": None,
}


def alternate(
    systems: dict, rounds: int, storage: str, seeded: bool = False
) -> dict[str, list[dict]]:
    """Run every system once per round, rotating who goes first; print each run.

    ``seeded``: our runs of round i all get ``--seed i``, so they train on the same episodes.
    """
    results: dict[str, list[dict]] = {name: [] for name in systems}
    names = list(systems)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            extra = systems[name]
            if seeded and extra is not None:
                extra = (*extra, "--seed", str(i + 1))
            result = (
                run_sb3()
                if extra is None
                else run_ours(storage, f"bench_{len(names)}_{i}_{names.index(name)}", *extra)
            )
            results[name].append(result)
            print(
                f"round {i + 1}  {result['seconds']:6.1f} s  {result['timesteps']:>7,} steps  "
                f"solved={result['solved']}  {name}",
                flush=True,
            )
    return results


def table(results: dict[str, list[dict]]) -> None:
    python = platform.python_version()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    print("| system | median time to solve | runs (s) | median steps | solved |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        times = ", ".join(f"{r['seconds']:.1f}" for r in rows)
        print(
            f"| {name} | {median(r['seconds'] for r in rows):.1f} s | {times} | "
            f"{median(r['timesteps'] for r in rows):,.0f} | "
            f"{sum(r['solved'] for r in rows)}/{len(rows)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as storage:
        results = alternate(SYSTEMS, args.rounds, storage)
    table(results)
    sb3 = median(r["seconds"] for r in results["SB3 PPO, rl-zoo hyperparameters"])
    for name, rows in results.items():
        if "rayrl-suite" in name:
            training = median(r["training_s"] for r in rows)
            print(
                f"ratio to SB3: {median(r['seconds'] for r in rows) / sb3:.2f}  "
                f"({training:.1f} s inside training iterations)  {name}"
            )


if __name__ == "__main__":
    main()
