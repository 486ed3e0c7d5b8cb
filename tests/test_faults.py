"""Faults during training: a killed env runner, a trial that raises (--max-failures)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conftest import (
    CARTPOLE_PPO,
    REPO,
    ChildLines,
    LocalCluster,
    cmdline,
    iteration_at_least,
    rows_once,
    run_script,
    run_to_failure,
    sigkill_tree,
    trial_dir,
    trial_dirs,
)
from ray.tune.trainable.metadata import _TrainingRunMetadata

from analysis.watch import read_results


def _env_runner_pids() -> list[int]:
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if cmdline(pid).startswith(b"ray::SingleAgentEnvRunner")]


def assert_the_restored_runner_samples(rows: list[dict]) -> None:
    """RLlib restored the lost env runner, which is healthy at the end and sampled since."""
    assert restored_and_sampled(rows), [r["fault_tolerance"] for r in rows]


def restored_and_sampled(rows: list[dict]) -> bool:
    restored = next((r for r in rows if r["fault_tolerance"]["num_remote_worker_restarts"]), None)
    return (
        restored is not None
        and rows[-1]["num_env_steps_sampled_lifetime"] > restored["num_env_steps_sampled_lifetime"]
        and rows[-1]["fault_tolerance"]["num_healthy_workers"] == 1
    )


def test_killed_env_runner_is_restarted_and_training_goes_on(tmp_path):
    """Driven by events, not by a budget: the env runner is killed once training runs, and
    the run is stopped (Ctrl-C) once the restored runner has sampled, however fast the VM."""
    before = set(_env_runner_pids())
    proc = subprocess.Popen(
        [
            sys.executable, str(CARTPOLE_PPO), "--env-runners", "1", "--max-time", "600",
            "--stop-return", "501",  # above CartPole's best: the run goes on until stopped
            "--eval-interval", "0", "--no-report", "--storage", str(tmp_path), "--name", "killed",
        ],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    lines = ChildLines(proc)
    lines.until(iteration_at_least(3), timeout=180)
    [killed] = set(_env_runner_pids()) - before  # this run's one env runner
    os.kill(killed, signal.SIGKILL)
    rows_once(tmp_path / "killed", restored_and_sampled, lines, timeout=180)
    proc.send_signal(signal.SIGINT)
    out = lines.wait(timeout=120)
    assert proc.returncode == 130, out[-3000:]  # stopped by the test, state saved
    assert_the_restored_runner_samples(read_results(trial_dir(tmp_path / "killed")))


def test_a_failing_trial_is_retried_then_reported_with_its_cause(ray_session, tmp_path, capsys):
    run_to_failure(
        "--env", "failing_envs:FailsLater-v0", "--max-failures", "1", "--no-report",
        "--max-timesteps", "20000", "--storage", str(tmp_path), "--name", "retried",
    )  # fmt: skip
    out = capsys.readouterr().out
    cause = "RuntimeError: this env fails mid-training, on purpose"
    [retry] = [line for line in out.splitlines() if "retrying" in line]
    assert f"failed ({cause}); retrying: failure 1 of --max-failures 1 allowed" in retry
    [line] = [line for line in out.splitlines() if ": error: " in line]
    assert line.endswith(f"error: {cause}")
    rows = read_results(trial_dir(tmp_path / "retried"))
    starts = [row for row in rows if row["training_iteration"] == 1]
    assert len(starts) == 2  # the first attempt, and one retry (--max-failures 1)


def test_a_retried_trial_keeps_its_return_window(ray_session, tmp_path, capsys):
    run_to_failure(
        "--env", "failing_envs:FailsLater-v0", "--max-failures", "1", "--checkpoint-every", "1",
        "--no-report", "--max-timesteps", "20000", "--storage", str(tmp_path), "--name", "window",
    )  # fmt: skip
    rows = read_results(trial_dir(tmp_path / "window"))
    # The retry's first result: Tune restored the trial from its latest checkpoint.
    retry = next(i for i, row in enumerate(rows) if i and row["iterations_since_restore"] == 1)
    restored = rows[retry - 1]
    assert restored["training_iteration"] == rows[retry]["training_iteration"] - 1
    # The retry restored the checkpoint's window and added its first iteration's episodes.
    episodes = rows[retry]["env_runners"]["num_episodes"]
    assert rows[retry]["episodes_in_window"] == min(100, restored["episodes_in_window"] + episodes)
    assert restored["episodes_in_window"] > 0


def _state_file(experiment: Path) -> Path:
    return max(experiment.glob("experiment_state-*.json"))  # the newest: what Tune restores


def _recorded_checkpoints(experiment: Path) -> dict[str, Path]:
    """Trial directory name -> the checkpoint Tune's saved state would resume it from."""
    recorded = {}
    for _, metadata in json.loads(_state_file(experiment).read_text())["trial_data"]:
        manager = _TrainingRunMetadata.from_json_state(metadata).checkpoint_manager
        latest = manager.latest_checkpoint_result
        if latest is not None:
            path = Path(latest.checkpoint.path)
            recorded[path.parent.name] = experiment / path.parent.name / path.name
    return recorded


def _rewind_to_before_its_last_result(experiment: Path, name: str) -> None:
    """Make the saved state hold trial ``name`` as Tune saved it one result before its end:
    running, without its last result and the checkpoint saved with it."""
    state_file = _state_file(experiment)
    state = json.loads(state_file.read_text())
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        if trial["relative_logdir"] != name:
            continue
        rows = read_results(experiment / name)
        metadata = _TrainingRunMetadata.from_json_state(entry[1])
        manager = metadata.checkpoint_manager
        end = rows[-1]["training_iteration"]
        manager._checkpoint_results = [
            r for r in manager._checkpoint_results if r.metrics["training_iteration"] < end
        ]
        manager._latest_checkpoint_result = max(
            manager._checkpoint_results, key=lambda r: r.metrics["training_iteration"]
        )
        metadata.last_result = rows[-2]
        trial["status"] = "RUNNING"
        entry[:] = [json.dumps(trial), metadata.get_json_state()]
    state_file.write_text(json.dumps(state))


def test_sigkilled_driver_mid_sweep_resumes_without_rerunning_or_losing_anything(tmp_path):
    args = [
        sys.executable, str(CARTPOLE_PPO), "--sweep", "--num-samples", "1",
        # 30,000 steps a trial: the second pair must still run when the first pair is done
        # and the kill lands (12,000 could all be spent by then on a fast VM).
        "--max-timesteps", "30000", "--eval-interval", "0", "--no-report",
        "--checkpoint-every", "1", "--storage", str(tmp_path), "--name", "swept",
    ]  # fmt: skip
    experiment = tmp_path / "swept"
    driver = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    done: dict[str, list[dict]] = {}
    while time.monotonic() < deadline:
        trials = {t.name: read_results(t) for t in trial_dirs(experiment)}
        done = {name: rows for name, rows in trials.items() if rows and rows[-1].get("done")}
        running = [rows for name, rows in trials.items() if name not in done and len(rows) >= 3]
        # All 4 trials made (Tune makes the second pair as the first ends). Seen in CI: a kill
        # before that left a resume waiting for ever in Tune's trial queue (a defect, open).
        if done and running and len(trials) == 4:
            break
        time.sleep(0.5)
    assert done and running and len(trials) == 4, "the second pair did not start in 240 s"
    time.sleep(2)  # let Tune record the finished trial, as it would in a real crash window
    sigkill_tree(driver.pid)  # the driver and the Ray it started: stopped by PID, all of them
    driver.wait(timeout=30)
    finished = {
        t.name: (t / "result.json").read_bytes() for t in trial_dirs(experiment) if t.name in done
    }
    before = {t.name: read_results(t) for t in trial_dirs(experiment)}
    checkpoints = {
        t.name: sorted(p.name for p in t.glob("checkpoint_*")) for t in trial_dirs(experiment)
    }
    # Tune saves the experiment state at most every 10 s but deletes a checkpoint as soon as
    # newer ones push it out of the best N, so a kill often leaves an unfinished trial whose
    # recorded checkpoint is gone. Make that certain for one trial (it may already be so).
    recorded = _recorded_checkpoints(experiment)
    [victim, *_] = [name for name in recorded if name not in done]
    shutil.rmtree(recorded[victim], ignore_errors=True)
    # A kill can also fall between a trial's end and the next save (seen in CI: the finished
    # trial was run again). Make that certain for one finished trial.
    [late, *_] = done
    _rewind_to_before_its_last_result(experiment, late)
    final_checkpoint = experiment / late / checkpoints[late][-1]

    resumed = subprocess.run(
        [*args, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=400
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trial_id = "_".join(victim.split("_")[2:4])  # PPO_CartPole-v1_<trial id>_...
    [repaired] = [line for line in resumed.stdout.splitlines() if f"trial {trial_id}:" in line]
    assert f"last recorded checkpoint {recorded[victim].name} is gone" in repaired
    after = {t.name: read_results(t) for t in trial_dirs(experiment)}
    assert len(after) == 4 and all(rows[-1].get("done") for rows in after.values())
    for name, content in finished.items():  # completed trials were not run again
        assert (experiment / name / "result.json").read_bytes() == content
        assert sorted(p.name for p in (experiment / name).glob("checkpoint_*")) == checkpoints[name]
    for name, rows in before.items():  # no result row lost
        seen = {row["training_iteration"] for row in after[name]}
        assert {row["training_iteration"] for row in rows} <= seen
    late_id = "_".join(late.split("_")[2:4])
    [kept] = [line for line in resumed.stdout.splitlines() if f"trial {late_id}:" in line]
    assert "finished after Tune's last save; kept as finished, not run again" in kept
    assert _recorded_checkpoints(experiment)[late] == final_checkpoint  # recorded for analysis


def test_training_survives_the_loss_of_a_worker_node(tmp_path):
    """Two worker nodes; the one running the env runner crashes (its raylet and workers
    SIGKILLed). Ray moves the runner's placement-group bundle to the other worker, RLlib
    restores the runner there, and the run is stopped (Ctrl-C) once the restored runner has
    sampled. Events, not a budget: on a fast machine a 20,000-step budget was nearly spent
    (17,552 steps) before the crash landed, and a 30-s one raced a slow VM.

    The trial itself is pinned to the head: left free, Ray may place it on the surviving
    worker, and then no node left has room for the runner (seen: the bundle stays in
    RESCHEDULING and the run waits for ever; docs/faults.md says so).
    """
    cluster = LocalCluster()
    # Ray's GCS declares a node dead after 5 failed health checks: 1 s apart here, not 3 s.
    cluster.env["RAY_health_check_period_ms"] = "1000"
    cluster.start(
        workers=[{"worker_node": 1, "node_a": 1}, {"worker_node": 1, "node_b": 1}],
        head_resources={"head_node": 1},
        dashboard=True,  # Ray's state API, to see where the actors live
    )
    try:
        nodes = {n["NodeID"]: n["Resources"] for n in cluster.nodes()}
        index_of = {
            nid: 0 if "node_a" in res else 1 for nid, res in nodes.items() if "worker_node" in res
        }
        [head] = [nid for nid, res in nodes.items() if "head_node" in res]
        proc = subprocess.Popen(
            [
                sys.executable, str(CARTPOLE_PPO), "--env-runners", "1",
                "--config", 'custom_resources_per_env_runner={"worker_node": 0.01}',
                "--config", 'custom_resources_for_main_process={"head_node": 0.01}',
                "--max-time", "600", "--eval-interval", "0", "--no-report",
                "--stop-return", "501",  # above CartPole's best: the run goes on until stopped
                "--storage", str(tmp_path), "--name", "node_lost",
            ],
            cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**cluster.env, "RAY_ADDRESS": cluster.address},
        )  # fmt: skip
        lines = ChildLines(proc)
        lines.until(iteration_at_least(3), timeout=240)
        trial_nodes = list(cluster.env_runners("PPO").values())
        [(runner, crashed)] = cluster.env_runners().items()
        cluster.crash_worker(index_of[crashed])
        # Events, not a budget: the runner restored and sampling, then a user's Ctrl-C.
        rows_once(tmp_path / "node_lost", restored_and_sampled, lines, timeout=240)
        survivors = cluster.env_runners()
        proc.send_signal(signal.SIGINT)
        out = lines.wait(timeout=120)
        assert trial_nodes == [head]
        assert proc.returncode == 130, out[-3000:]
        [survivor] = set(index_of) - {crashed}
        assert survivors == {runner: survivor}  # the same runner, restored there
        assert_the_restored_runner_samples(read_results(trial_dir(tmp_path / "node_lost")))
    finally:
        cluster.stop()


def test_an_unreachable_ray_address_from_the_environment_fails_fast_in_one_line(tmp_path):
    started = time.monotonic()
    proc = run_script("--storage", str(tmp_path), env={"RAY_ADDRESS": "127.0.0.1:1"}, timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "no Ray cluster answers at 127.0.0.1:1" in line and "RAY_ADDRESS" in line


def test_ray_address_auto_naming_a_dead_cluster_fails_fast_in_one_line(tmp_path):
    # RAY_ADDRESS=auto joins the cluster /tmp/ray/ray_current_cluster names, even a dead one:
    # Ray retried for over 2 minutes.
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
    try:
        proc = run_script(
            "--storage", str(tmp_path), env={"RAY_ADDRESS": "auto", "RAY_TMPDIR": str(ray_tmp)},
            timeout=60,
        )  # fmt: skip
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "no Ray cluster answers at auto (127.0.0.1:1, from " in line


def test_a_second_driver_on_a_running_experiment_is_refused(tmp_path):
    args = [
        sys.executable, str(CARTPOLE_PPO), "--storage", str(tmp_path), "--name", "busy",
        "--max-timesteps", "200000", "--stop-return", "10000", "--eval-interval", "0",
        "--no-video", "--no-report",
    ]  # fmt: skip
    first = subprocess.Popen(args, cwd=REPO, text=True, stdout=subprocess.PIPE)
    try:
        ChildLines(first).until(lambda line: " iter " in line, timeout=180)
        # Before: the second driver resumed the same trial, and both wrote its result.json.
        second = subprocess.run(
            [*args, "--resume"], cwd=REPO, text=True, capture_output=True, timeout=120
        )
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert second.returncode == 2
    [line] = second.stderr.splitlines()
    assert f"experiment busy is being run by pid {first.pid} on " in line
    iterations = [r["training_iteration"] for r in read_results(trial_dir(tmp_path / "busy"))]
    assert iterations == sorted(iterations)


def test_a_full_storage_disk_is_one_line_and_resumes_once_space_is_freed(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    flags = ["--storage", str(disk), "--name", "full", "--checkpoint-every", "1",
             "--max-timesteps", "30000", "--eval-interval", "0", "--no-report"]  # fmt: skip
    try:
        full = run_script(*flags, timeout=300)
        [error] = [line for line in full.stderr.splitlines() if ": error: " in line]
        subprocess.run(["mount", "-o", "remount,size=100m", str(disk)], check=True)
        resumed = run_script(*flags, "--resume", timeout=300)
        rows = [json.loads(line) for line in (trial_dir(disk / "full") / "result.json").open()]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert full.returncode == 1, full.stdout[-2000:]
    assert f"--storage {disk} is full (OSError: [Errno 28] No space left on device)" in error
    assert error.endswith("--resume")
    assert "Traceback" not in full.stderr and len(full.stderr.splitlines()) <= 5, full.stderr
    # Nothing of Tune's own loggers ("ERROR experiment_state.py:176 -- Saving ... failed").
    tune_lines = re.findall(r"^.*(?:ERROR|WARNING) \S+\.py:\d+.*$", full.stdout + full.stderr, re.M)
    assert not tune_lines, tune_lines

    # Freed space: the files the full disk cut short are whole again (every result.json row
    # parses, none glued to the next), and the trial trains on to its step budget from its
    # last good checkpoint instead of stopping after one iteration.
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "cut short" in resumed.stdout
    restarts = [i for i in range(1, len(rows)) if rows[i]["iterations_since_restore"] == 1]
    assert len(restarts) == 1, [r["training_iteration"] for r in rows]
    before, after = rows[: restarts[0]], rows[restarts[0] :]
    assert after[0]["training_iteration"] <= before[-1]["training_iteration"] + 1
    assert len(after) > 3 and after[-1]["num_env_steps_sampled_lifetime"] >= 30000
