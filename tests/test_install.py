"""Installed like any package (Colab, a cluster image, ``pip install git+URL``): no checkout,
no editable install; the experiments ship in the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO


def test_a_wheel_installed_elsewhere_trains_from_another_directory(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "-w", str(tmp_path / "wheel"), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: Ray's socket paths
    # The installed copy only: not this checkout, not the tests' own path.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
    env |= {"PYTHONPATH": str(site), "RAY_TMPDIR": ray_tmp}
    code = (
        "import runner; from runner import train; "
        "grid = train('cartpole_pg', max_timesteps=4000, report=False, video=False); "
        "print('from', runner.__file__); "
        "print('steps', grid[0].metrics['num_env_steps_sampled_lifetime'])"
    )

    def python(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    try:
        from_python = python("-c", code)
        as_module = python("-m", "experiments.cartpole_pg", "--max-timesteps", "4000",
                           "--no-report", "--name", "module")  # fmt: skip
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert from_python.returncode == 0, from_python.stdout[-3000:] + from_python.stderr[-3000:]
    assert f"from {site}" in from_python.stdout  # the installed runner, not the checkout's
    assert float(from_python.stdout.split("steps ")[-1].split()[0]) >= 4000
    assert as_module.returncode == 0, as_module.stdout[-3000:] + as_module.stderr[-3000:]
    assert "== cartpole_pg: module" in as_module.stdout
    assert list((elsewhere / "results").glob("module/*/result.json"))
    assert not list(Path(REPO, "results").glob("module"))  # results where the user ran it
