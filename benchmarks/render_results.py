"""Render RESULTS.md's tables and README's experiment table from the results store.

    python benchmarks/render_results.py           # rewrite the rendered parts
    python benchmarks/render_results.py --check   # exit 1 where README or RESULTS disagree

Each rendered part sits between ``<!-- rendered:NAME -->`` and ``<!-- /rendered:NAME -->``;
the text around it is prose, kept as written. Every figure is the interquartile mean (IQM)
over the seeds of the newest campaign of its benchmark, with its 95 % bootstrap CI
(``suite/stats.py``), and the machine's calibration beside it.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.store import RESULTS, load  # noqa: E402
from suite.stats import Interval, iqm_ci  # noqa: E402

Record = dict[str, Any]


# ---- reading the store ----------------------------------------------------------------------


def newest_campaign(records: list[Record], benchmark: str) -> list[Record]:
    """The records of ``benchmark``'s newest campaign (its last appended record's)."""
    mine = [r for r in records if r["benchmark"] == benchmark]
    return [r for r in mine if r["campaign"] == mine[-1]["campaign"]] if mine else []


def by_system(records: list[Record]) -> dict[str, list[Record]]:
    systems: dict[str, list[Record]] = {}
    for record in records:
        systems.setdefault(record["system"], []).append(record)
    return systems


def over_seeds(records: list[Record], key: str) -> Interval:
    """IQM and CI of figure ``key`` over the records that have it (None, NaN: not reached)."""
    values = [r["figures"].get(key) for r in records]
    return iqm_ci([math.nan if v is None else float(v) for v in values])


def reached(records: list[Record], key: str) -> str:
    have = sum(r["figures"].get(key) is not None for r in records)
    return f"{have}/{len(records)}"


def fmt(interval: Interval, digits: int = 1) -> str:
    if math.isnan(interval.value):
        return "not reached"
    value = f"**{interval.value:,.{digits}f}**"
    if interval.n < 2:
        return value
    return f"{value} [{interval.low:,.{digits}f}, {interval.high:,.{digits}f}]"


def machine(record: Record) -> str:
    m = record["machine"]
    return (
        f"{m['cpu']}, {m['cores']} cores, {'/'.join(m['isa']) or 'no AVX2'}; ALE Pong "
        f"{m['ale_pong_steps_per_s_one_core']:,.0f} steps/s on one core; a fixed CNN step "
        f"{m['torch_cnn_step_ms']:.1f} ms; torch {m['torch']}, Ray {m['ray']}"
    )


def provenance(records: list[Record]) -> str:
    first = records[0]
    seeds = sorted({r["seed"] for r in records if r["seed"] is not None})
    shown = f"{seeds[0]}…{seeds[-1]}" if len(seeds) > 2 else ", ".join(map(str, seeds))
    seeded = f"; seeds {shown}" if seeds else ""
    return (
        f"`{first['command']}` on {first['date']} at {first['commit']}{seeded}; "
        f"machine: {machine(first)}"
    )


# ---- the rendered parts ------------------------------------------------------------------------

CARTPOLE = "cartpole_time_to_solve"
PONG_PPO = "pong_ppo_run"
PONG_PG = "pong_pg_run"
SB3 = "SB3 PPO, rl-zoo hyperparameters"
PG_SAMPLING = "pong_pg_throughput"
NUMPY_LOOP = "the tutorial's loop in NumPy, one process"
CEILING = "pong_pg.py's env alone (ALE's vector env, 64 envs), random play"


def cartpole_table(records: list[Record]) -> str:
    campaign = newest_campaign(records, CARTPOLE)
    if not campaign:
        return "_No CartPole records yet: run `python benchmarks/cartpole_time_to_solve.py`._"
    systems = by_system(campaign)
    sb3 = over_seeds(systems.get(SB3, []), "seconds") if SB3 in systems else None
    lines = [
        "| system | solved | time from process start to return_last100 ≥ 450 (s) "
        "| env steps to it | IQM ratio to SB3 |",
        "|---|---|---|---|---|",
    ]
    for name, runs in systems.items():
        solved = [r for r in runs if r["figures"]["solved"]]
        seconds = over_seeds(solved, "seconds")
        ratio = (
            "—" if sb3 is None else "1×" if name == SB3 else f"**{seconds.value / sb3.value:.2f}×**"
        )
        lines.append(
            f"| {name} | {len(solved)}/{len(runs)} | {fmt(seconds)} | "
            f"{fmt(over_seeds(solved, 'timesteps'), 0)} | {ratio} |"
        )
    return "\n".join(lines) + f"\n\nIQM [95 % CI]. {provenance(campaign)}."


PONG_FIGURES = (
    ("greedy ≥ 0 (the round's mean), minutes from process start", "greedy_ge_0_min", 1),
    ("return_last100 ≥ 18 (solved), minutes from process start", "return_ge_18_min", 1),
    ("return_last100 ≥ −15, minutes", "return_ge_minus15_min", 1),
    ("training return (last 100) at 10 min", "return_at_10_min", 1),
    ("training return (last 100) at 20 min", "return_at_20_min", 1),
    ("training return (last 100) at 30 min", "return_at_30_min", 1),
    ("last greedy round (mean of its episodes)", "last_greedy", 1),
    ("env steps per second of training", "steps_per_s", 0),
    ("episodes per minute of training", "episodes_per_min", 1),
    ("peak memory of all the run's processes (GiB)", "peak_memory_gib", 2),
)


def pong_table(records: list[Record], benchmark: str, script: str) -> str:
    campaign = newest_campaign(records, benchmark)
    if not campaign:
        return f"_No records yet: run `python benchmarks/pong_run.py --script {script}`._"
    lines = ["| figure | IQM [95 % CI] over seeds | reached | each seed |", "|---|---|---|---|"]
    for label, key, digits in PONG_FIGURES:
        if all(r["figures"].get(key) is None for r in campaign):  # not measured by these runs
            continue
        each = ", ".join(
            "—" if r["figures"].get(key) is None else f"{r['figures'][key]:.{digits}f}"
            for r in campaign
        )
        lines.append(
            f"| {label} | {fmt(over_seeds(campaign, key), digits)} | "
            f"{reached(campaign, key)} | {each} |"
        )
    return "\n".join(lines) + f"\n\n{provenance(campaign)}."


def pg_sampling_table(records: list[Record]) -> str:
    """Pong PG's episodes per minute against the tutorial's NumPy loop and against the
    ceiling of the env it samples, all measured in one run (IQM over its rounds)."""
    campaign = newest_campaign(records, PG_SAMPLING)
    if not campaign:
        return "_No records yet: run `python benchmarks/pong_pg_throughput.py`._"
    systems = by_system(campaign)
    per_minute = {name: over_seeds(runs, "episodes_per_min") for name, runs in systems.items()}
    loop, ceiling = per_minute.get(NUMPY_LOOP), per_minute.get(CEILING)
    lines = ["| system | rounds | env steps/s | episodes/min | × the NumPy loop | of the ceiling |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, runs in systems.items():
        rate = per_minute[name].value
        vs_loop = f"{rate / loop.value:.2f}×" if loop else "—"
        of_ceiling = f"{rate / ceiling.value:.0%}" if ceiling else "—"
        lines.append(
            f"| {name} | {len(runs)} | {fmt(over_seeds(runs, 'steps_per_s'), 0)} | "
            f"{fmt(per_minute[name])} | {vs_loop} | {of_ceiling} |"
        )
    return "\n".join(lines) + f"\n\nIQM [95 % CI] over rounds. {provenance(campaign)}."


def _cartpole_ratio(records: list[Record]) -> tuple[str, bool | None]:
    systems = by_system(newest_campaign(records, CARTPOLE))
    ours, sb3 = systems.get("cartpole_ppo.py, defaults"), systems.get(SB3)
    if not ours or not sb3:
        return "not measured", None
    ratio = over_seeds(ours, "seconds").value / over_seeds(sb3, "seconds").value
    return f"{ratio:.2f}× SB3's IQM", ratio <= 1.3


def _cartpole_pg(records: list[Record]) -> tuple[str, bool | None]:
    runs = by_system(newest_campaign(records, CARTPOLE)).get("cartpole_pg.py, defaults")
    if not runs:
        return "not measured", None
    seconds = over_seeds([r for r in runs if r["figures"]["solved"]], "seconds")
    return f"{fmt(seconds)} s", seconds.value <= 30


def _pong(key: str, limit: float) -> Callable[[list[Record]], tuple[str, bool | None]]:
    def figure(records: list[Record]) -> tuple[str, bool | None]:
        campaign = newest_campaign(records, PONG_PPO)
        if not campaign:
            return "not measured", None
        value = over_seeds(campaign, key)
        met = not math.isnan(value.value) and value.value <= limit
        shown = fmt(value) + ("" if math.isnan(value.value) else " min")
        return f"{shown} ({reached(campaign, key)} seeds reached it)", met

    return figure


# Issue 32's figures to reach: (what, how it is read from the store and judged).
TARGETS = (
    ("CartPole PPO: time to solve ≤ 1.3× SB3's (IQMs)", _cartpole_ratio),
    ("CartPole PG: time to solve ≤ 30 s (IQM)", _cartpole_pg),
    ("Pong PPO: greedy ≥ 0 within 12 min (IQM)", _pong("greedy_ge_0_min", 12)),
    ("Pong PPO: solved (return_last100 ≥ 18) within 20 min (IQM)", _pong("return_ge_18_min", 20)),
)


def targets_table(records: list[Record]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for label, figure in TARGETS:
        shown, met = figure(records)
        verdict = "not measured" if met is None else "**met**" if met else "**missed**"
        lines.append(f"| {label} | {shown} | {verdict} |")
    return "\n".join(lines)


def _summary(
    records: list[Record], benchmark: str, system: str, key: str, what: str, unit: str = ""
) -> str:
    runs = [r for r in newest_campaign(records, benchmark) if r["system"] == system]
    if not runs:
        return "not measured yet"
    return (
        f"{what} {fmt(over_seeds(runs, key))}{unit} (IQM [95 % CI]; "
        f"{reached(runs, key)} seeds reached it)"
    )


def experiments_table(records: list[Record]) -> str:
    """README's table: what each script does, and its headline figure from the store."""

    def solved(system: str) -> str:
        runs = [r for r in newest_campaign(records, CARTPOLE) if r["system"] == system]
        ok = [r for r in runs if r["figures"]["solved"]]
        if not runs:
            return "not measured yet"
        seconds = fmt(over_seeds(ok, "seconds"))
        return f"solves in {seconds} s from process start ({len(ok)}/{len(runs)} seeds)"

    ratio, _ = _cartpole_ratio(records)
    rows = [
        ("PPO on CartPole-v1", "cartpole_ppo.py",
         f"{solved('cartpole_ppo.py, defaults')}; {ratio} side by side"),
        ("PG (REINFORCE) on CartPole-v1", "cartpole_pg.py", solved("cartpole_pg.py, defaults")),
        ("PPO on Atari Pong", "pong_ppo.py",
         _summary(records, PONG_PPO, "pong_ppo.py, defaults", "greedy_ge_0_min",
                  "greedy (mean of 10 episodes) ≥ 0 at", " min from process start")),
        ("PG on Pong from pixels (Karpathy's setup)", "pong_pg.py",
         _summary(records, PONG_PG, "pong_pg.py, defaults", "return_at_30_min",
                  "training return at 30 min")),
    ]  # fmt: skip
    lines = ["| experiment | script | measured on 2 cores, no GPU (benchmarks/RESULTS.md) |",
             "|---|---|---|"]  # fmt: skip
    lines += [f"| {name} | `experiments/{script}` | {figure} |" for name, script, figure in rows]
    return "\n".join(lines)


def other_tables(records: list[Record]) -> str:
    """Every other benchmark in the store: per system, the IQM of each numeric figure over
    its runs in the newest campaign."""
    shown = []
    for benchmark in dict.fromkeys(r["benchmark"] for r in records):
        if benchmark in (CARTPOLE, PONG_PPO, PONG_PG, PG_SAMPLING):
            continue
        campaign = newest_campaign(records, benchmark)
        systems = by_system(campaign)
        keys = [
            k
            for k in dict.fromkeys(k for r in campaign for k in r["figures"])
            if all(isinstance(r["figures"].get(k), (int, float, type(None))) for r in campaign)
        ]
        lines = [f"### {benchmark}", "", "| system | runs | " + " | ".join(keys) + " |",
                 "|---|---|" + "---|" * len(keys)]  # fmt: skip
        for name, runs in systems.items():
            cells = [fmt(over_seeds(runs, key), 1).replace("**", "") for key in keys]
            lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
        shown.append("\n".join(lines) + f"\n\n{provenance(campaign)}.")
    return "\n\n".join(shown) or "_No other benchmark has records yet._"


def results_parts(records: list[Record]) -> dict[str, str]:
    return {
        "targets": targets_table(records),
        "cartpole": cartpole_table(records),
        "pong_ppo": pong_table(records, PONG_PPO, "pong_ppo.py"),
        "pong_pg": pong_table(records, PONG_PG, "pong_pg.py"),
        "pong_pg_sampling": pg_sampling_table(records),
        "others": other_tables(records),
    }


# ---- writing and checking -------------------------------------------------------------------


def fill(text: str, parts: dict[str, str]) -> str:
    """``text`` with each rendered part replaced; a part whose markers are missing is an
    error (the renderer and the page must agree on what is rendered)."""
    for name, body in parts.items():
        pattern = re.compile(
            rf"(<!-- rendered:{name} -->\n).*?(<!-- /rendered:{name} -->)", flags=re.S
        )
        if not pattern.search(text):
            raise SystemExit(f"render_results: no <!-- rendered:{name} --> markers")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 where a page disagrees")
    parser.add_argument("--store", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    records = load(args.store)
    pages = {
        args.results: results_parts(records),
        args.readme: {"experiments": experiments_table(records)},
    }
    stale = []
    for page, parts in pages.items():
        text = page.read_text(encoding="utf-8")
        rendered = fill(text, parts)
        if rendered != text:
            stale.append(page)
            if not args.check:
                page.write_text(rendered, encoding="utf-8")
    if args.check and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"render_results: {names} disagree with {args.store}; run {Path(__file__).name}")
        return 1
    if not args.check:
        changed = ", ".join(map(str, stale)) or "no change"
        print(f"rendered from {len(records)} records: {changed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
