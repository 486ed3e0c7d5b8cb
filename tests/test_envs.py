"""`python -m envs ID` prints what the tutorial's query_environment printed."""

import re
import subprocess
import sys

from conftest import REPO


def test_env_query_prints_the_facts():
    proc = subprocess.run(
        [sys.executable, "-m", "envs", "CartPole-v1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    facts = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in proc.stdout.splitlines())
    assert facts["action space"] == "Discrete(2)"
    assert facts["observation space"].startswith("Box(") and "(4,)" in facts["observation space"]
    assert facts["max episode steps"] == "500"
    assert facts["nondeterministic"] == "False"
    assert facts["reward range"] == "(-inf, inf)"
    assert facts["reward threshold"] == "475.0"


def test_env_query_suggests_close_ids():
    proc = subprocess.run(
        [sys.executable, "-m", "envs", "CartPole-v9"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "did you mean CartPole-v1" in proc.stderr.strip().splitlines()[-1]
