"""The results store (benchmarks/results/*.jsonl) and the pages rendered from it: a record
holds what a skeptic needs to compare it, the tables hold the IQM over seeds, and --check
fails where README or RESULTS were edited by hand."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
from conftest import REPO

from benchmarks import render_results, store

RENDER = REPO / "benchmarks" / "render_results.py"


def _render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RENDER), *args], capture_output=True, text=True, timeout=120
    )


def test_the_committed_pages_agree_with_the_store():
    proc = _render("--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_figure_edited_by_hand_in_readme_fails_the_check(tmp_path):
    readme, results = tmp_path / "README.md", tmp_path / "RESULTS.md"
    shutil.copy(REPO / "README.md", readme)
    shutil.copy(REPO / "benchmarks" / "RESULTS.md", results)
    pages = ["--readme", str(readme), "--results", str(results)]
    assert _render("--check", *pages).returncode == 0
    text = readme.read_text()
    start = text.index("<!-- rendered:experiments -->")
    end = text.index("<!-- /rendered:experiments -->")
    table = text[start:end]
    digit = next(i for i, c in enumerate(table) if c.isdigit() and i > table.index("|---"))
    edited = table[:digit] + str((int(table[digit]) + 1) % 10) + table[digit + 1 :]
    readme.write_text(text[:start] + edited + text[end:])
    proc = _render("--check", *pages)
    assert proc.returncode == 1
    assert "README.md" in proc.stdout
    assert _render(*pages).returncode == 0  # rendering puts the store's figure back
    assert _render("--check", *pages).returncode == 0


def test_a_record_holds_its_provenance_and_the_machine(tmp_path):
    record = store.append(
        "demo", "ours", {"seconds": 12.5}, campaign="demo@1", seed=3, results=tmp_path
    )
    [loaded] = store.load(tmp_path)
    assert loaded == json.loads(json.dumps(record))
    assert loaded["seed"] == 3 and loaded["figures"] == {"seconds": 12.5}
    assert loaded["date"] and loaded["commit"] and loaded["command"].startswith("python ")
    machine = loaded["machine"]
    assert machine["cpu"] and machine["cores"] >= 1
    assert "avx2" in machine["isa"] or not machine["isa"]
    assert machine["ale_pong_steps_per_s_one_core"] > 100  # measured, not a constant
    assert machine["torch_cnn_step_ms"] > 0


def _record(benchmark: str, system: str, seed: int | None, figures: dict) -> dict:
    machine = {"cpu": "cpu", "cores": 2, "isa": ["avx2"], "torch": "t", "ray": "r",
               "ale_pong_steps_per_s_one_core": 2000.0, "torch_cnn_step_ms": 30.0}  # fmt: skip
    return {"benchmark": benchmark, "system": system, "seed": seed, "campaign": "c",
            "date": "2026-12-05", "commit": "abc", "command": "python x.py", "figures": figures,
            "machine": machine}  # fmt: skip


def test_the_cartpole_table_is_the_iqm_over_seeds_and_the_ratio_of_iqms():
    ours = [30.0, 20.0, 21.0, 22.0, 23.0, 90.0, 24.0, 25.0]
    sb3 = [15.0, 16.0, 14.0, 17.0, 40.0, 13.0, 18.0, 19.0]
    records = [
        _record(render_results.CARTPOLE, system, seed,
                {"solved": True, "seconds": value, "timesteps": 60_000 + seed})
        for values, system in ((ours, "cartpole_ppo.py, defaults"), (sb3, render_results.SB3))
        for seed, value in enumerate(values)
    ]  # fmt: skip
    table = render_results.cartpole_table(records)
    ours_iqm = np.mean(sorted(ours)[2:6])  # 8 seeds: the middle 4
    sb3_iqm = np.mean(sorted(sb3)[2:6])
    assert f"**{ours_iqm:.1f}** [" in table
    assert f"**{sb3_iqm:.1f}** [" in table
    assert f"**{ours_iqm / sb3_iqm:.2f}×**" in table
    assert "8/8" in table


def test_pong_pg_sampling_is_set_against_the_numpy_loop_and_the_env_s_ceiling():
    rounds = {render_results.CEILING: [300.0, 280.0, 320.0, 310.0],
              render_results.NUMPY_LOOP: [60.0, 50.0, 70.0, 65.0],
              "ours, pong_pg.py defaults": [150.0, 140.0, 170.0, 155.0]}  # fmt: skip
    records = [
        _record(render_results.PG_SAMPLING, system, None,
                {"steps_per_s": 30 * value, "episodes_per_min": value})
        for system, values in rounds.items()
        for value in values
    ]  # fmt: skip
    table = render_results.pg_sampling_table(records)
    iqm = {system: np.mean(sorted(values)[1:3]) for system, values in rounds.items()}
    ours = iqm["ours, pong_pg.py defaults"]
    [row] = [line for line in table.splitlines() if line.startswith("| ours")]
    assert f"**{ours:.1f}** [" in row
    assert f"| {ours / iqm[render_results.NUMPY_LOOP]:.2f}× |" in row
    assert f"| {ours / iqm[render_results.CEILING]:.0%} |" in row
