"""``--seeds N``: N trials of one config on distinct seeds, and the figures over them (IQM with
a bootstrap CI) in the console, the summary and the report; greedy figures as the mean of
the round's episodes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
from browser import evaluate_in_page
from conftest import REPO, run_script

from analysis.watch import read_results
from suite.stats import iqm, iqm_ci


def test_iqm_is_the_mean_of_the_middle_half_and_its_ci_holds_it():
    # Eight values: the lowest two and the highest two are cut, whatever their size.
    assert iqm([100.0, 1, 7, 3, 5, 4, 6, 2]) == (3 + 4 + 5 + 6) / 4
    values = [412.0, 455.0, 389.0, 501.0, 430.0, 467.0, 398.0, 440.0, 476.0, 420.0]
    interval = iqm_ci(values)
    assert interval.low < interval.value < interval.high
    # 10 values: 25 % is 2.5 of them, and SciPy cuts 2 from each end.
    assert interval.value == pytest.approx(np.mean(sorted(values)[2:8]))
    assert iqm_ci(values).low == interval.low  # the same values, the same interval
    assert str(iqm_ci([3.0])) == "3 (one seed: no CI)"


def test_three_seeds_make_three_trials_and_the_figures_over_them(tmp_path):
    proc = run_script(
        "--seeds", "3", "--max-timesteps", "12000", "--eval-interval", "10",
        "--eval-episodes", "3", "--storage", str(tmp_path), "--name", "seeds",
        timeout=420,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    experiment = tmp_path / "seeds"
    trials = sorted(p.parent for p in experiment.glob("*/params.json"))
    seeds = [json.loads((t / "params.json").read_text())["seed"] for t in trials]
    assert sorted(seeds) == [0, 1, 2]

    # The console's greedy figure is the mean of the round's 3 episodes, with its SE.
    rounds = re.findall(r"greedy (-?[\d.]+) ± ([\d.]+) \((\d+) episodes\)", proc.stdout)
    assert rounds and all(n == "3" for _, _, n in rounds), proc.stdout[-3000:]
    for trial in trials:
        for row in read_results(trial):
            runners = row.get("evaluation", {}).get("env_runners", {})
            if "episodes_in_round" in runners:
                assert runners["episodes_in_round"] == 3
                assert runners["episode_return_se"] >= 0

    # The summary: each seed's final return, then their IQM, as computed by hand here.
    finals = [read_results(t)[-1]["return_last100"] for t in trials]
    by_hand = float(np.mean(sorted(finals)))  # 3 values: SciPy's 25 % trim cuts none
    match = re.search(r"^final return\s+([\d.]+) \[([\d.]+), ([\d.]+)\]", proc.stdout, re.M)
    assert match, proc.stdout[-3000:]
    assert abs(float(match.group(1)) - by_hand) < 0.01 * by_hand + 0.05
    assert float(match.group(2)) <= float(match.group(1)) <= float(match.group(3))
    assert "over 3 seeds" in proc.stdout
    chosen = re.search(r"^best checkpoint .*, seed (\d)$", proc.stdout, re.M)
    assert chosen, proc.stdout[-3000:]

    # The report: the aggregate curve with its band, and the seeds table, in a real browser.
    page = experiment / "report.html"
    found = evaluate_in_page(page, _SEEDS_SECTION, profile=tmp_path / "profile")
    assert found["heading"] == "Seeds", found
    assert found["band"]["w"] > 600, found  # the IQM-and-CI image decoded
    assert sorted(found["seeds"]) == ["0", "1", "2"], found
    assert found["best_seed"] == chosen.group(1), found


_SEEDS_SECTION = """
new Promise(resolve => {
  const heading = [...document.querySelectorAll('h2')].find(h => h.textContent === 'Seeds');
  const section = [];
  for (let e = heading && heading.nextElementSibling; e && e.tagName !== 'H2';
       e = e.nextElementSibling) section.push(e);
  const image = section.flatMap(e => e.tagName === 'IMG' ? [e] : [...e.querySelectorAll('img')])[0];
  const tables = section.filter(e => e.tagName === 'TABLE');
  const seeds = tables.length ? [...tables[tables.length - 1].querySelectorAll('tbody tr')]
      .map(row => row.cells[0].textContent.trim()) : [];
  const best = [...document.querySelectorAll('th')]
      .find(th => th.textContent === "best trial's seed");
  const done = () => resolve({heading: heading && heading.textContent, seeds,
      band: image ? {w: image.naturalWidth} : {},
      best_seed: best && best.nextElementSibling.textContent.trim()});
  if (!image || image.complete) done(); else image.onload = done;
})
"""


def test_seeds_from_python(tmp_path):
    code = textwrap.dedent(f"""
        from runner import train
        grid = train("cartpole_pg", seeds=2, max_timesteps=5000, storage={str(tmp_path)!r},
                     name="pg", report=False, video=False)
        print("seeds", sorted(result.config["seed"] for result in grid))
    """)
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: Ray's socket paths
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": ray_tmp}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
            timeout=300, env=env,
        )  # fmt: skip
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "seeds [0, 1]" in proc.stdout
    assert "over 2 seeds" in proc.stdout
