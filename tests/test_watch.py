"""Watching training live (python -m analysis --watch, watch()), TensorBoard, ASHA sweeps."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import CARTPOLE_PPO, REPO, load_script
from ray import tune

from analysis import load_experiment, trials_table
from callbacks import RETURN_METRIC
from callbacks.tensorboard import TAG


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """A short training run, and a watcher started before its directory existed."""
    storage = tmp_path_factory.mktemp("watch")
    experiment = storage / "live"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "analysis", "--watch", str(experiment), "--interval", "0.5"],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    training = subprocess.run(
        [
            # 15 s of training, whatever this machine's speed: Tune copies results to the
            # storage at least 10 s apart, and the watcher must see some while training runs.
            sys.executable, str(CARTPOLE_PPO), "--max-time", "15", "--stop-return", "1000",
            "--eval-interval", "4", "--no-report", "--storage", str(storage), "--name", "live",
        ],
        cwd=REPO, text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert training.returncode == 0, training.stdout[-2000:] + training.stderr[-2000:]
    try:
        watched_out = watcher.communicate(timeout=60)[0]
    finally:
        watcher.kill()
    return experiment, watched_out, watcher.returncode


def test_watcher_follows_a_running_experiment_until_it_ends(watched):
    experiment, out, returncode = watched
    lines = out.splitlines()
    assert lines[0] == f"waiting for {experiment} to appear"
    assert returncode == 0 and lines[-1] == f"experiment ended: {experiment}"
    curves = [
        line for line in lines if f"curves {experiment / 'analysis' / 'live_curves.png'}" in line
    ]
    videos = re.findall(r"new video (\S+)", out)
    # Successive updates while training ran: new results redrawn, new videos announced.
    assert len(curves) >= 2 and len(videos) >= 2, out
    assert len(set(videos)) == len(videos) and all(Path(v).exists() for v in videos)
    iterations = [int(m) for m in re.findall(r"^iter +(\d+)", out, re.M)]
    assert iterations == sorted(iterations) and iterations[-1] > iterations[0]
    assert (experiment / "analysis" / "live_curves.png").stat().st_size > 5_000


def test_notebook_watch_shows_curves_and_the_newest_video(watched):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from analysis import watch

    experiment, _, _ = watched
    InteractiveShell.instance()
    with capture_output() as shown:
        watch(experiment, interval=0.1, timeout=30)
    pages = [output.data.get("text/html", "") for output in shown.outputs]
    assert any("data:image/png;base64," in page for page in pages)  # the curves
    assert any("data:video/mp4;base64," in page for page in pages)  # the newest video
    # One display, redrawn in place: shown once, then only updates of that display.
    assert [output.update for output in shown.outputs].count(False) == 1
    assert len({output.transient["display_id"] for output in shown.outputs}) == 1


def test_tensorboard_logs_hold_evaluation_return_and_video_paths(watched):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    experiment, _, _ = watched
    [trial] = [p for p in experiment.iterdir() if p.name.startswith("PPO")]
    events = EventAccumulator(str(trial), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    returns = events.Scalars("ray/tune/evaluation/env_runners/episode_return_mean")
    assert len(returns) >= 2
    texts = [e.tensor_proto.string_val[0].decode() for e in events.Tensors(f"{TAG}/text_summary")]
    assert len(texts) >= 2
    for text in texts:
        path = text.split(" (return ")[0]
        assert Path(path).exists() and Path(path).parent.parent == trial


def test_asha_sweep_stops_weak_trials_early(ray_session, tmp_path, capsys):
    script = load_script()
    budget = 30000
    # Two strong trials run first (2 at a time) and set ASHA's bar at each rung; the two with
    # a learning rate 300x too small come after them. (ASHA is asynchronous: the first trials
    # to reach a rung always go on, so random learning rates made this test a coin toss.)
    grid = script.run(
        replace(
            script.EXPERIMENT,
            sweep={"lr": tune.grid_search([6e-3, 5e-3, 2e-5, 1e-5])},
            sweep_budget=budget,
        ),
        script="cartpole_ppo",
        argv=[
            "--sweep", "--num-samples", "1", "--scheduler", "asha", "--max-timesteps", str(budget),
            "--eval-interval", "0", "--no-report", "--storage", str(tmp_path), "--name", "asha",
        ],
    )  # fmt: skip
    assert len(grid) == 4 and not grid.errors
    steps = [r.metrics["num_env_steps_sampled_lifetime"] for r in grid]
    unsolved_early = [
        s for r, s in zip(grid, steps, strict=True) if s < budget and r.metrics[RETURN_METRIC] < 450
    ]
    assert unsolved_early, f"ASHA stopped no trial early: {steps}"
    table = trials_table(load_experiment(tmp_path / "asha"))
    assert len(table) == 4
    assert "best config" in capsys.readouterr().out
