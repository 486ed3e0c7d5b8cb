"""``train()``, the Python API a notebook uses: the command line's flags as keyword arguments,
errors in one line, two calls in one process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conftest import REPO, mlflow_client, trial_dir

from analysis.watch import read_results

TWICE = """
from runner import train
first = train("cartpole_ppo", smoke=True, storage={storage!r}, name="first", report=False,
              config={{"num_epochs": 2}}, seed=1)
second = train("cartpole_ppo", smoke=True, storage={storage!r}, name="second", video=False,
               report=False, track=["mlflow"])
print("iterations", first[0].metrics["training_iteration"], second[0].metrics["training_iteration"])
"""


def _python(code: str, ray_tmp: Path, *, ipython: bool = False) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python, or IPython (which shows exceptions as a notebook does)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=str(ray_tmp))
    command = ["ipython", "--colors=nocolor"] if ipython else [sys.executable]
    return subprocess.run(
        [*command, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )


def test_train_twice_in_one_process_uses_one_ray(tmp_path):
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    try:
        proc = _python(TWICE.format(storage=str(tmp_path)), ray_tmp)
        sessions = list((ray_tmp / "ray").glob("session_2*"))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "iterations 2 2" in proc.stdout
    assert len(sessions) == 1  # the second call reused the Ray the first started
    assert "wall time" in proc.stdout and "from the train() call" in proc.stdout
    assert list(trial_dir(tmp_path / "first").glob("videos/*.mp4"))  # flags as keywords
    assert not list(trial_dir(tmp_path / "second").glob("videos/*.mp4"))  # video=False
    client = mlflow_client(tmp_path)  # track=["mlflow"], as --track mlflow
    assert client.search_runs([client.get_experiment_by_name("second").experiment_id])


def test_a_bad_value_is_one_line_in_ipython_and_starts_no_ray(tmp_path):
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    try:
        proc = _python(
            f"from runner import train; train('cartpole_ppo', lr=-1, storage={str(tmp_path)!r})",
            ray_tmp,
            ipython=True,
        )
        started = (ray_tmp / "ray").exists()  # where a Ray started with RAY_TMPDIR keeps it
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert (proc.stdout + proc.stderr).strip() == "UsageError: lr must be > 0, got -1.0"
    assert not started


def test_interrupting_the_kernel_leaves_an_experiment_the_printed_call_resumes(tmp_path):
    """Jupyter's "interrupt kernel" is a SIGINT to the kernel process."""
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    manager, kernel = start_new_kernel(kernel_name="python3", cwd=str(REPO), env=env)
    try:
        started = kernel.execute(
            "from runner import train\n"
            f"grid = train('cartpole_ppo', storage={str(tmp_path)!r}, name='nb', "
            "max_timesteps=30000, checkpoint_every=1, eval_interval=0, report=False)"
        )
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("nb/*/checkpoint_*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        manager.interrupt_kernel()
        reply = kernel.get_shell_msg(timeout=120)
        printed = _iopub_text(kernel, started)
        interrupted_at = read_results(trial_dir(tmp_path / "nb"))[-1]
        assert interrupted_at["num_env_steps_sampled_lifetime"] < 30000, "finished before Ctrl-C"
        call = re.search(r"^interrupted; continue with: (train\(.*\))$", printed, re.M)
        assert call and "name='nb', resume=True" in call[1], printed[-3000:]
        assert reply["content"]["status"] == "ok", reply["content"]  # no traceback, one line

        resumed = kernel.execute(f"grid = {call[1]}")
        reply = kernel.get_shell_msg(timeout=300)
        printed = _iopub_text(kernel, resumed)
    finally:
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", printed[-3000:]
    assert "resuming nb" in printed
    last = read_results(trial_dir(tmp_path / "nb"))[-1]
    assert last["training_iteration"] > interrupted_at["training_iteration"]
    assert last["num_env_steps_sampled_lifetime"] >= 30000 or last["return_last100"] >= 450


def _iopub_text(kernel, request: str) -> str:
    """The stream text the kernel printed for the execute ``request`` until it was done."""
    text = []
    while True:
        message = kernel.get_iopub_msg(timeout=300)
        if message["parent_header"].get("msg_id") != request:
            continue
        content = message["content"]
        if message["msg_type"] == "stream":
            text.append(content["text"])
        elif message["msg_type"] == "status" and content["execution_state"] == "idle":
            return "".join(text)
