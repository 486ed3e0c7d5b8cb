"""``train()``, the Python API a notebook uses: the command line's flags as keyword arguments,
errors in one line, two calls in one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO, mlflow_client, trial_dir

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
    env.update(RAY_TMPDIR=str(ray_tmp), MLFLOW_ALLOW_FILE_STORE="true")
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
