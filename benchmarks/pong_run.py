"""One Pong run as a user starts it, measured: wall-clock time from process start to a
score, the learning curve, and the memory of all the run's processes.

    python benchmarks/pong_run.py --minutes 15 --seed 1 [--script pong_pg.py] [-- more flags]

Starts ``experiments/pong_ppo.py`` (or ``--script``; its defaults, plus the flags after
``--``) with a training budget of ``--minutes``; the clock starts when this launches the
process. Every 10 s it reads the resident memory of the script and of every process below it
(the local Ray's processes and workers). At the end it prints the time to a training return
(last 100 episodes) of −15, to greedy evaluation returns of ≥ 0 and ≥ +18, the memory peak,
and the growth from minute 5 to the last result, in all and per process; it writes
``curve.csv`` (one row per iteration, minutes from process start), ``memory.csv`` (the
total) and ``memory_processes.csv`` (each process) into the experiment.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from ray.tune.utils import flatten_dict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/, from a checkout even without the install

from analysis.experiment import EVAL_RETURN  # noqa: E402
from analysis.watch import read_results  # noqa: E402
from benchmarks import store  # noqa: E402
from callbacks import RETURN_METRIC  # noqa: E402
from callbacks.greedy_returns import GREEDY_EPISODES, GREEDY_SE  # noqa: E402

EPISODES_METRIC = "env_runners/num_episodes_lifetime"

PAGE = os.sysconf("SC_PAGE_SIZE")
SCORES = (("training return ≥ −15", RETURN_METRIC, -15), ("greedy ≥ 0", EVAL_RETURN, 0),
          ("greedy ≥ +18", EVAL_RETURN, 18))  # fmt: skip


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (a local Ray's processes are its children)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            tasks = Path(f"/proc/{pid}/task").iterdir()
            todo += [int(c) for t in tasks for c in (t / "children").read_text().split()]
        except OSError:
            pass
    return found


def rss(pid: int) -> tuple[str, int]:
    """(command name, resident bytes) of ``pid``; ("", 0) once it is gone."""
    try:
        name = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return name[:60], pages * PAGE
    except OSError:
        return "", 0


def growth_per_process(per_process: list[tuple], until: float) -> list[tuple]:
    """(pid, command, RSS at the first sample after minute 5, RSS at the last sample up to
    ``until``) of each process alive at both, largest growth first."""
    span = [row for row in per_process if 5 <= row[0] <= until]
    if not span:
        return []
    first = {pid: (size, command) for minute, pid, size, command in span if minute == span[0][0]}
    last = {pid: size for minute, pid, size, _ in span if minute == span[-1][0]}
    growth = [(pid, first[pid][1], first[pid][0], last[pid]) for pid in first if pid in last]
    return sorted(growth, key=lambda g: g[2] - g[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget")
    parser.add_argument("--seed", type=int, default=1, help="the first seed")
    parser.add_argument("--seeds", type=int, default=1, help="runs, one after another")
    parser.add_argument("--storage", default=str(REPO / "results"))
    parser.add_argument("--script", default="pong_ppo.py", help="in experiments/")
    parser.add_argument(
        "--campaign", default=None, help="the store's name for these runs (continue one)"
    )
    parser.add_argument("extra", nargs="*", help="more of the script's flags (after --)")
    args = parser.parse_args()
    benchmark = f"{Path(args.script).stem}_run"
    print(f"machine: {store.calibration()}", flush=True)  # measured first, on a quiet machine
    campaign = args.campaign or store.new_campaign(benchmark)
    # The system as the store names it: flags that do not change training leave it the same.
    training_flags = [flag for flag in args.extra if flag not in ("--no-report", "--no-video")]
    system = f"{args.script}, " + (" ".join(training_flags) or "defaults")
    failed = 0
    for seed in range(args.seed, args.seed + args.seeds):
        figures, status = run_seed(args, seed)
        store.append(benchmark, system, figures, campaign=campaign, seed=seed)
        failed = failed or status
    raise SystemExit(failed)


def run_seed(args: argparse.Namespace, seed: int) -> tuple[dict, int]:
    """One run of the script on ``seed``, watched; its figures for the store, its exit."""
    stem = Path(args.script).stem
    name = f"{stem}_run_seed{seed}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    command = [
        sys.executable, str(REPO / "experiments" / args.script), "--seed", str(seed),
        "--max-time", str(args.minutes * 60), "--storage", args.storage, "--name", name,
        *args.extra,
    ]  # fmt: skip
    started = time.time()
    driver = subprocess.Popen(command, cwd=REPO)
    memory, per_process, peak = [], [], (0, [])
    while driver.poll() is None:
        minute = (time.time() - started) / 60
        processes = [(pid, *rss(pid)) for pid in process_tree(driver.pid)]
        processes = [p for p in processes if p[2]]
        total = sum(size for _, _, size in processes)
        memory.append((minute, total, len(processes)))
        per_process += [(round(minute, 3), pid, size, command) for pid, command, size in processes]
        if total > peak[0]:
            peak = (total, sorted(processes, key=lambda p: -p[2])[:8])
        time.sleep(10)

    experiment = Path(args.storage, name)
    [trial] = [p.parent for p in experiment.glob("*/result.json")]
    rows = [flatten_dict(row, delimiter="/") for row in read_results(trial)]
    curve = [
        (round((row["timestamp"] - started) / 60, 3), int(row["num_env_steps_sampled_lifetime"]),
         row.get(RETURN_METRIC), row.get(EVAL_RETURN), row.get(GREEDY_SE),
         row.get(GREEDY_EPISODES), row.get(EPISODES_METRIC))
        for row in rows
    ]  # fmt: skip
    with open(experiment / "curve.csv", "w", newline="") as handle:
        header = ("minute", "env_steps", RETURN_METRIC, "greedy", "greedy_se", "greedy_episodes",
                  "episodes")  # fmt: skip
        csv.writer(handle).writerows([header, *curve])
    with open(experiment / "memory.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("minute", "rss_bytes", "processes"), *memory])
    with open(experiment / "memory_processes.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("minute", "pid", "rss_bytes", "command"), *per_process])

    print(f"\n{name}: {len(rows)} iterations, {curve[-1][1]:,} env steps, exit {driver.returncode}")
    for label, key, target in SCORES:
        column = 2 if key == RETURN_METRIC else 3
        hit = next((c for c in curve if c[column] is not None and c[column] >= target), None)
        when = f"{hit[0]:5.1f} min ({hit[1]:,} steps)" if hit else "not reached"
        print(f"  {label:22s} {when}")
    last = next((c[2] for c in reversed(curve) if c[2] is not None and not math.isnan(c[2])), None)
    print(f"  training return at the end: {last}")
    # Growth while it trains: from minute 5 to the last result (the report that follows
    # runs after the trial's process has ended).
    trained_until = curve[-1][0]
    after5 = [(minute, total) for minute, total, _ in memory if 5 <= minute <= trained_until]
    after5 = after5 or [memory[-1][:2]]
    at5, at_end = after5[0][1], after5[-1][1]
    # RSS swings within each iteration (freed memory goes back after it, learning takes it
    # again) and 10-s samples alias with ~10-s iterations: the highest and the lowest sample
    # of the first and last 2 minutes are steady where a 2-minute median is not.
    early = [t for m, t in after5 if m <= after5[0][0] + 2]
    late = [t for m, t in after5 if m >= after5[-1][0] - 2]
    windows = ", ".join(
        f"{label} {pick(early) / 2**30:.2f} → {pick(late) / 2**30:.2f} GiB "
        f"({100 * (pick(late) / pick(early) - 1):+.1f} %)"
        for label, pick in (("highest", max), ("median", median), ("lowest", min))
    )
    print(
        f"  memory: peak {peak[0] / 2**30:.2f} GiB; minute 5 {at5 / 2**30:.2f} GiB, "
        f"end {at_end / 2**30:.2f} GiB ({100 * (at_end / at5 - 1):+.1f} %); first and last "
        f"2 minutes: {windows}"
    )
    for pid, command_line, size in peak[1]:
        print(f"    {size / 2**20:7.0f} MiB  {command_line} ({pid})")
    print("  per process, minute 5 → last result (MiB):")
    for pid, command_line, first, last in growth_per_process(per_process, trained_until):
        change = f"{first / 2**20:7.0f} → {last / 2**20:5.0f} ({(last - first) / 2**20:+5.0f})"
        print(f"    {change}  {command_line[:60]} ({pid})")
    print(f"  curve and memory: {experiment}/curve.csv, memory.csv, memory_processes.csv")
    kept = REPO / "benchmarks" / "curves" / f"{stem}_seed{seed}_{time.strftime('%Y-%m-%d')}"
    kept.parent.mkdir(exist_ok=True)
    shutil.copy(experiment / "curve.csv", f"{kept}_curve.csv")
    shutil.copy(experiment / "memory.csv", f"{kept}_memory.csv")
    figures = {
        **run_figures(curve, rows),
        "peak_memory_gib": round(peak[0] / 2**30, 3),
        "curve_csv": f"{kept.relative_to(REPO)}_curve.csv",
        "memory_csv": f"{kept.relative_to(REPO)}_memory.csv",
    }
    return figures, driver.returncode


def run_figures(curve: list[tuple], rows: list[dict]) -> dict:
    """The store's figures of one run: minutes to each score (None: not reached), the
    training return at 10, 20 and 30 minutes, the last greedy round, and throughput."""
    minute, _, train, greedy, greedy_se, greedy_episodes, _ = zip(*curve, strict=True)

    def first(values: tuple, target: float, fresh: tuple = ()) -> float | None:
        for i, value in enumerate(values):
            if value is not None and not math.isnan(value) and value >= target:
                if not fresh or fresh[i] is not None:
                    return minute[i]
        return None

    def at(limit: float) -> float | None:
        if minute[-1] < limit - 0.5:  # the run ended before it
            return None
        before = [t for m, t in zip(minute, train, strict=True) if m <= limit and t is not None]
        return before[-1] if before else None

    last = rows[-1]
    training_s = last["time_total_s"]
    rounds = [i for i, n in enumerate(greedy_episodes) if n is not None]
    return {
        "greedy_ge_0_min": first(greedy, 0, greedy_episodes),
        "return_ge_18_min": first(train, 18),
        "return_ge_minus15_min": first(train, -15),
        "return_at_10_min": at(10),
        "return_at_20_min": at(20),
        "return_at_30_min": at(30),
        "last_greedy": greedy[rounds[-1]] if rounds else None,
        "last_greedy_se": greedy_se[rounds[-1]] if rounds else None,
        "greedy_episodes": greedy_episodes[rounds[-1]] if rounds else None,
        "steps_per_s": last["num_env_steps_sampled_lifetime"] / training_s,
        "episodes_per_min": (last.get(EPISODES_METRIC) or 0) / (training_s / 60),
        "minutes": minute[-1],
        "env_steps": last["num_env_steps_sampled_lifetime"],
    }


if __name__ == "__main__":
    main()
