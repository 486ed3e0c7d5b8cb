"""`python -m analysis DIR`: what the summary tells users to run."""

import subprocess
import sys

from conftest import REPO


def _analysis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_missing_or_empty_directories_are_one_line_errors(tmp_path):
    proc = _analysis(str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"python -m analysis: error: no such directory: {tmp_path / 'nope'}"
    )
    proc = _analysis(str(tmp_path))
    assert proc.returncode == 2
    assert "holds no Tune experiment" in proc.stderr.strip().splitlines()[-1]
