"""Throughput of an experiment script as a user runs it: ``train_for(script, seconds)``.

The script trains for ``seconds`` in a fresh process with its own local Ray (no evaluation,
video or report); its result.json gives env steps and episodes per second of training,
counted from the end of the first iteration, so start-up is left out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # analysis/, from a checkout even without the install

from analysis.watch import read_results  # noqa: E402


def train_for(script: str, seconds: float, *flags: str, env: dict | None = None) -> dict:
    """Run ``experiments/<script>`` for ``seconds`` of training, with ``env`` added to the
    environment of it and of its local Ray; its figures."""
    with tempfile.TemporaryDirectory() as storage:
        proc = subprocess.run(
            [
                sys.executable, str(REPO / "experiments" / script), "--max-time", str(seconds),
                "--eval-interval", "0", "--no-video", "--no-report", "--stop-return", "99",
                "--storage", storage, "--name", "run", *flags,
            ],
            capture_output=True, text=True, cwd=REPO, timeout=seconds + 600,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        results = list(Path(storage, "run").glob("*/result.json"))
        if proc.returncode != 0 or not results:
            raise SystemExit(f"{script} {' '.join(flags)} failed:\n{proc.stderr[-3000:]}")
        rows = read_results(results[0].parent)
    first, last = rows[0], rows[-1]
    seconds_s = last["time_total_s"] - first["time_total_s"]

    def lifetime(row: dict, key: str) -> float:
        return (
            row["env_runners"].get(key, 0)
            if key != "steps"
            else row["num_env_steps_sampled_lifetime"]
        )

    steps = lifetime(last, "steps") - lifetime(first, "steps")
    episodes = lifetime(last, "num_episodes_lifetime") - lifetime(first, "num_episodes_lifetime")
    return {
        "steps_per_s": steps / seconds_s,
        "episodes_per_min": 60 * episodes / seconds_s,
        "iterations": len(rows),
        "steps": last["num_env_steps_sampled_lifetime"],
        "return_last100": last.get("return_last100"),
    }
