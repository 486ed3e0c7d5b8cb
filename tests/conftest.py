"""One real local Ray for the whole test session (ray.init costs ~6 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray

REPO = Path(__file__).resolve().parents[1]
CARTPOLE_PPO = REPO / "experiments" / "cartpole_ppo.py"


@pytest.fixture(scope="session")
def ray_session():
    ray.init(
        address="local",
        num_cpus=2,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        logging_level="WARNING",
    )
    yield
    ray.shutdown()


def run_script(
    *args: str, script: Path = CARTPOLE_PPO, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run an experiment script as a user would, in its own process."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env=env,
    )
