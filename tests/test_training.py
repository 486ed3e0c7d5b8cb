"""Real training runs through the runner, on the session's one local Ray."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from conftest import CARTPOLE_PPO, REPO, ChildLines, at_iteration, load_script, rows_once
from ray import tune

from analysis import choose_best
from callbacks import RETURN_METRIC

TIMESTEPS_KEY = "num_env_steps_sampled_lifetime"


def test_short_run_writes_the_checkpoint_tune_reports_as_best(ray_session, tmp_path, capsys):
    script = load_script()
    grid = script.run(
        script.EXPERIMENT,
        script="cartpole_ppo",
        argv=[
            "--max-timesteps",
            "8000",
            "--checkpoint-every",
            "2",
            "--keep-checkpoints",
            "2",
            "--storage",
            str(tmp_path),
            "--name",
            "short",
        ],
    )
    [result] = list(grid)
    assert result.error is None
    best = result.get_best_checkpoint(RETURN_METRIC, "max")
    kept = {Path(cp.path): metrics[RETURN_METRIC] for cp, metrics in result.best_checkpoints}
    assert Path(best.path) in kept and kept[Path(best.path)] == max(kept.values())
    # The checkpoint is a real, restorable RLlib algorithm state on disk.
    assert (Path(best.path) / "algorithm_state.pkl").exists()
    assert Path(best.path).is_relative_to(tmp_path / "short")
    out = capsys.readouterr().out
    chosen = choose_best(grid)  # by evaluation return, the training return breaking ties
    assert f"best checkpoint        {chosen.checkpoint.path}" in out
    assert "python -m analysis" in out
    assert re.search(r"iter +\d+ +steps +[\d,]+ +return\(last 100\)", out)
    # The command the summary points to reads the same experiment back.
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", str(tmp_path / "short")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"best checkpoint +{re.escape(chosen.checkpoint.path)}\n", proc.stdout)
    frame = result.metrics_dataframe
    assert frame[TIMESTEPS_KEY].iloc[-1] >= 8000
    # It learned: a random policy's CartPole episodes last ~22 steps; 8,000 steps of PPO reach
    # a mean of 40-60 over the last 100 (seeds 0-2: 45, 48, 52 at 8k).
    assert frame[RETURN_METRIC].iloc[-1] > 30


def test_sweep_smoke_runs_four_trials_and_prints_the_table(ray_session, tmp_path, capsys):
    script = load_script()
    grid = script.run(
        script.EXPERIMENT,
        script="cartpole_ppo",
        argv=["--sweep", "--num-samples", "1", "--smoke", "--storage", str(tmp_path)],
    )
    assert len(grid) == 4 and not grid.errors
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "best return" in line and "trial" in line)
    assert all(col in header for col in ("fcnet_hiddens", "fcnet_activation", "lr", "timesteps"))
    rows = out.splitlines()[out.splitlines().index(header) + 1 :][:4]
    combos = {
        (hidden, act)
        for row in rows
        for hidden in ("[32]", "[64]")
        for act in ("linear", "relu")
        if f" {hidden} " in row and f" {act} " in row
    }
    assert combos == {("[32]", "linear"), ("[32]", "relu"), ("[64]", "linear"), ("[64]", "relu")}
    returns = [float(re.findall(r"\s(\d+\.\d)\s", row)[0]) for row in rows]
    assert returns == sorted(returns, reverse=True)  # best first
    assert "best config" in out
    # The report that follows a sweep: one CSV row per trial, hyperparameters against result.
    [experiment] = [p for p in tmp_path.iterdir() if p.is_dir()]
    csv = pd.read_csv(experiment / "analysis" / "trials.csv")
    assert len(csv) == 4 and {"fcnet_hiddens", "fcnet_activation", "lr"} <= set(csv.columns)
    assert (experiment / "analysis" / "hyperparameters.png").stat().st_size > 10_000
    assert (experiment / "report.html").exists()


def test_sigterm_then_resume_continues_the_same_experiment(tmp_path):
    """Training stopped by SIGTERM (what Slurm and Kubernetes send) is saved and picks up again
    with --resume. SIGTERM is handled as Ctrl-C's SIGINT, whose own path (exit 130, resume) is
    tested in test_tracking.py and, for train() in a Jupyter kernel, in test_api.py."""
    # Interrupted at its 4th result (~4,000 steps), seen within 0.2 s: room to spare for the
    # signal on a VM twice as fast, and a short resume.
    budget = 20000
    args = [
        "--storage",
        str(tmp_path),
        "--name",
        "interrupted",
        "--max-timesteps",
        str(budget),
        "--stop-return",
        "10000",
        "--checkpoint-every",
        "1",
        "--no-report",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(CARTPOLE_PPO), *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = ChildLines(proc)
    rows_once(tmp_path / "interrupted", at_iteration(4), lines, timeout=180)
    proc.send_signal(signal.SIGTERM)
    interrupted_output = lines.wait(timeout=120)
    assert proc.returncode == 143, interrupted_output[-3000:]
    assert "SIGTERM received" not in interrupted_output  # no C++ stack dump from Ray
    hint = next(line for line in interrupted_output.splitlines() if "continue with:" in line)
    assert "--name interrupted" in hint and hint.endswith("--resume")
    exp = tmp_path / "interrupted"
    [trial_dir] = [p for p in exp.iterdir() if p.is_dir() and p.name.startswith("PPO")]
    rows_before = [
        json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()
    ]
    assert rows_before and rows_before[-1][TIMESTEPS_KEY] < budget
    assert tune.Tuner.can_restore(exp)

    resumed = subprocess.run(
        [sys.executable, str(CARTPOLE_PPO), *args, "--resume"],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming interrupted" in resumed.stdout
    # The summary says what its training time counts: both runs, not this call's alone.
    assert re.search(r"^wall time .*over all runs of this experiment", resumed.stdout, re.M)
    rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
    iterations = [row["training_iteration"] for row in rows]
    # Continued from a checkpoint: iterations go on from where they were, not from 1 again.
    assert iterations[len(rows_before)] > 1
    # With its return window: the last 100 episodes before the checkpoint, not a handful since.
    assert rows[len(rows_before)]["episodes_in_window"] == 100
    assert not any(r["episodes_in_window"] < 100 and r["return_last100"] >= 10000 for r in rows)
    assert rows[-1][TIMESTEPS_KEY] >= budget
    assert len([p for p in exp.iterdir() if p.is_dir() and p.name.startswith("PPO")]) == 1


# Every line a normal run prints, by shape: the suite's own lines and nothing from Ray, Tune,
# RLlib or gymnasium (no auth warning, config box, TensorBoard hint, registry warning).
CONSOLE_LINES = [
    r"cartpole_ppo: training console \(goal: mean return of the last 100 episodes ≥ 450\); "
    r"results in \S+",
    r"\[\w+_\d{5}\] iter +\d+  steps +[\d,]+  return\(last 100\) +(-?[\d.]+|-) / 450 +[\d.]+ s"
    r"(  greedy -?[\d.]+ ± [\d.]+ \(\d+ episodes\))?",
    r"",
    r"== cartpole_ppo: console",
    r"(best return|iterations|timesteps|wall time|greedy evaluation|best checkpoint|videos"
    r"|experiment directory"
    r"|analyse it) +\S.*",
    r"report: (evaluating|recording|joining) .+",
    r"(restored policy|after_training\.mp4|before_training\.mp4|progression\.mp4|report) +\S.*",
]


def test_a_normal_run_prints_only_the_suite_s_own_lines_and_times_from_python(tmp_path):
    # Started as a container entrypoint or a job wrapper would: a shell that execs Python
    # last, after work of its own (3 s of sleep) that the run's wall time must not count.
    command = (
        f"sleep 3 && exec {sys.executable} {CARTPOLE_PPO} --max-timesteps 4000 "
        f"--eval-interval 2 --report-episodes 1 --storage {tmp_path} --name console"
    )
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=300, cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
    )  # fmt: skip
    whole = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    wall = float(re.search(r"^wall time +([\d.]+) s from process start", proc.stdout, re.M)[1])
    assert wall < whole - 3, (wall, whole)
    assert proc.stderr == ""
    shapes = [re.compile(shape) for shape in CONSOLE_LINES]
    stray = [
        line for line in proc.stdout.splitlines() if not any(s.fullmatch(line) for s in shapes)
    ]
    assert not stray, stray
    assert re.search(r"^report +\S+report\.html$", proc.stdout, re.M)  # the run went to the end
