"""Time to solve CartPole-v1 over seeds: our PPO and PG scripts (defaults) against SB3 PPO
(rl-zoo hyperparameters).

All run as fresh processes on this machine with the same stop rule (mean return of the
last 100 training episodes ≥ 450), timed from process start to solved. Runs alternate, each
round on one seed. Our figures come from the trial's result.json: solved is its last row's
return, and the time is from starting the process to that row being written (the file's
modification time). Each run is appended to the results store (benchmarks/store.py);
``render_results.py`` gives the IQM over seeds with its CI, and the ratio of the IQMs.

    pip install -e ".[bench]" && python benchmarks/cartpole_time_to_solve.py [--seeds 10]
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
from collections.abc import Callable
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # callbacks/, from a checkout even without the install
BENCHMARK = "cartpole_time_to_solve"
# Runs start as on a user's machine, with Python's bytecode cache (some VMs turn it off).
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_ours(storage: str, name: str, script: str, *extra: str) -> dict:
    """One run of ``experiments/<script>`` as a user types it; figures from its result.json."""
    from analysis.watch import read_results
    from callbacks import RETURN_METRIC

    started = time.time()
    proc = subprocess.run(
        [
            sys.executable, str(REPO / "experiments" / script),
            "--storage", storage, "--name", name, "--no-report", *extra,
        ],
        capture_output=True, text=True, timeout=900, env=USER_ENV,
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


def run_sb3(seed: int | None = None) -> dict:
    seeded = [] if seed is None else ["--seed", str(seed)]
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sb3_cartpole_ppo.py"), *seeded],
        capture_output=True,
        text=True,
        timeout=900,
        env=USER_ENV,
    )
    if proc.returncode != 0:
        raise SystemExit(f"SB3 run failed (pip install -e '.[bench]'?):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


SB3 = "SB3 PPO, rl-zoo hyperparameters"
# A system: the flags of a run of ours (of cartpole_ppo.py, unless the first is another
# script in experiments/), or None for SB3.
SYSTEMS = {
    "cartpole_ppo.py, defaults": (),
    "cartpole_pg.py, defaults": ("cartpole_pg.py",),
    SB3: None,
}


def alternate(
    systems: dict,
    rounds: int,
    storage: str,
    seeds: list[int] | None = None,
    on_run: Callable[[str, int | None, dict], None] = lambda name, seed, result: None,
) -> dict[str, list[dict]]:
    """Run every system once per round, rotating who goes first; print each run.

    ``seeds``: round i runs every system with ``seeds[i]``, so they train on the same
    episodes (SB3 on its own); ``on_run`` gets each run's figures as it ends.
    """
    results: dict[str, list[dict]] = {name: [] for name in systems}
    names = list(systems)
    for i in range(rounds):
        seed = seeds[i] if seeds else None
        for name in names[i % len(names) :] + names[: i % len(names)]:
            extra = systems[name]
            if extra is None:
                result = run_sb3(seed)
            else:
                own_script = extra[:1] and extra[0].endswith(".py")
                script, *flags = extra if own_script else ("cartpole_ppo.py", *extra)
                flags += [] if seed is None else ["--seed", str(seed)]
                run_name = f"bench_{len(names)}_{i}_{names.index(name)}"
                result = run_ours(storage, run_name, script, *flags)
            results[name].append(result)
            on_run(name, seed, result)
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
    parser.add_argument("--seeds", type=int, default=10, help="runs of each system, alternating")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds FIRST, FIRST+1, …")
    parser.add_argument(
        "--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS), metavar="SYSTEM"
    )
    args = parser.parse_args()
    from benchmarks import store

    systems = {name: SYSTEMS[name] for name in args.systems}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    print(f"machine: {store.calibration()}", flush=True)  # measured first, on a quiet machine
    campaign = store.new_campaign(BENCHMARK)
    with tempfile.TemporaryDirectory() as storage:  # fills the bytecode cache; not recorded
        print("warm-up: one run of each system, not recorded", flush=True)
        alternate(systems, 1, storage, [10_000])

    def record(name: str, seed: int | None, result: dict) -> None:
        kept = ("solved", "seconds", "timesteps", "training_s")
        figures = {key: result[key] for key in kept if key in result}
        store.append(BENCHMARK, name, figures, campaign=campaign, seed=seed)

    with tempfile.TemporaryDirectory() as storage:
        results = alternate(systems, len(seeds), storage, seeds, on_run=record)
    table(results)
    print(f"appended to {store.RESULTS / BENCHMARK}.jsonl; render: benchmarks/render_results.py")


if __name__ == "__main__":
    main()
