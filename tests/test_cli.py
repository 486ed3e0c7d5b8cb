"""Bad command lines fail fast, in one line, with exit status 2, before any Ray starts
(checked: no Ray session appears under $RAY_TMPDIR)."""

from __future__ import annotations

import http.server
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import run_script


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env", "CartPol-v1"], "unknown env id 'CartPol-v1'; did you mean CartPole-v1"),
        (["--lr", "0"], "lr must be > 0, got 0.0"),
        (["--lr", "-0.1"], "lr must be > 0, got -0.1"),
        (["--config", "minibatch_size=4096"], "minibatch_size 4096 is larger than the train batch"),
        (["--config", "num_epoch=3"], "unknown config key 'num_epoch'; did you mean num_epochs"),
        (["--preset", "atari_ppo"], "unknown --preset 'atari_ppo'; cartpole_ppo has: none"),
        (["--envs-per-runner", "0"], "--envs-per-runner must be ≥ 1, got 0"),
        (["--scheduler", "asha"], "--scheduler asha needs --sweep"),
        (["--scheduler", "hyperband"], "argument --scheduler: invalid choice: 'hyperband'"),
        (["--env-runners", "two"], "argument --env-runners: invalid int value: 'two'"),
        # No GPU here: a clear refusal rather than a trial that waits forever for one.
        (["--gpus", "1"], "--gpus 1 asked for, but this Ray cluster has 0 GPUs; drop --gpus"),
        # NCCL refuses two learners on one GPU (seen on an H100): refused before Ray starts.
        (
            ["--learners", "2", "--gpus", "0.5"],
            "--gpus 0.5 with --learners 2: learners that share a GPU cannot train together",
        ),
        # Ray itself would retry for minutes, printing C++ warnings (nothing listens on port 1).
        (
            ["--address", "127.0.0.1:1"],
            "no Ray cluster answers at 127.0.0.1:1 (Connection refused)",
        ),
        # A Ray Client address: Ray retried for 35 s, then a traceback.
        (
            ["--address", "ray://127.0.0.1:1"],
            "no Ray cluster answers at ray://127.0.0.1:1 (Connection refused)",
        ),
        # Remote storage that cannot be reached: a pyarrow traceback from inside Tune before.
        (
            ["--storage", "s3://bucket/x?endpoint_override=127.0.0.1:1&scheme=http"],
            "--storage s3://bucket/x?endpoint_override=127.0.0.1:1&scheme=http cannot be reached",
        ),
        # More CPUs than the cluster has: Tune kept the trial pending forever.
        (
            ["--env-runners", "8"],
            "one trial needs 9 CPUs (its own process 1, 8 env runners, 0 evaluation runners, "
            "0 learners), but this Ray cluster has 2",
        ),
        # Would otherwise only show as a remote env runner restarting again and again.
        (
            ["--env", "failing_envs:FailsOnReset-v0", "--env-runners", "1"],
            "env 'failing_envs:FailsOnReset-v0' fails to reset: "
            "RuntimeError: this env fails on reset, on purpose",
        ),
    ],
)
def test_bad_values_are_one_line_errors(args, expected, tmp_path):
    earlier = tmp_path / "results" / "earlier"
    earlier.mkdir(parents=True)
    (earlier / "result.json").write_text('{"return_last100": 500}\n')
    before = _tree(tmp_path / "results")
    # Ray keeps its sessions under $RAY_TMPDIR/ray: a Ray that starts leaves one there (a
    # short path: Ray's socket paths must fit in 107 bytes). Only the GPU count needs a
    # running Ray to be checked.
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    needs_ray = args[0] in ("--gpus", "--env-runners")  # what only a running Ray can tell
    env = {} if needs_ray else {"RAY_TMPDIR": str(ray_tmp)}
    try:
        storage = [] if "--storage" in args else ["--storage", str(tmp_path / "results")]
        proc = run_script(*args, *storage, timeout=120, env=env)
        started = (ray_tmp / "ray").exists()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 2, proc.stderr
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert _tree(tmp_path / "results") == before  # earlier results untouched, nothing added
    assert needs_ray or not started, "a Ray was started for a bad command line"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_unwritable_storage(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = run_script("--storage", str(blocker / "results"), timeout=120)
    assert proc.returncode == 2
    [line] = _error_lines(proc.stderr)
    assert f"--storage {blocker / 'results'} is not writable" in line
    assert blocker.read_text() == "not a directory"


def test_resume_of_missing_experiment(tmp_path):
    proc = run_script("--resume", "--name", "nothing-here", "--storage", str(tmp_path), timeout=120)
    assert proc.returncode == 2
    [line] = _error_lines(proc.stderr)
    assert f"no experiment to resume at {Path(tmp_path) / 'nothing-here'}" in line

    proc = run_script("--resume", "--storage", str(tmp_path), timeout=120)
    assert proc.returncode == 2
    [line] = _error_lines(proc.stderr)
    assert "no cartpole_ppo experiment to resume" in line


def test_existing_name_is_not_overwritten(tmp_path):
    earlier = tmp_path / "mine"
    earlier.mkdir()
    (earlier / "keep.txt").write_text("earlier result")
    proc = run_script("--name", "mine", "--storage", str(tmp_path), timeout=120)
    assert proc.returncode == 2
    [line] = _error_lines(proc.stderr)
    assert "already exists; add --resume" in line
    assert (earlier / "keep.txt").read_text() == "earlier result"


def test_help_lists_every_flag():
    proc = run_script("--help", timeout=120)
    assert proc.returncode == 0
    for flag in (
        "--env-runners",
        "--envs-per-runner",
        "--learners",
        "--gpus",
        "--stop-return",
        "--max-timesteps",
        "--max-time",
        "--seed",
        "--storage",
        "--name",
        "--resume",
        "--address",
        "--sweep",
        "--num-samples",
        "--smoke",
    ):
        assert flag in proc.stdout


def test_an_address_where_a_web_server_listens_is_refused_in_seconds(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    started = time.monotonic()
    try:
        proc = run_script("--address", address, "--storage", str(tmp_path), timeout=60)
    finally:
        server.shutdown()
    elapsed = time.monotonic() - started
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and elapsed <= 10, (elapsed, output)
    assert len(output) <= 3 and "Traceback" not in proc.stderr, output
    assert (
        f"nothing Ray answers there (a service that is not Ray listens) at {address}"
        in (output[-1])
    )
    # The address the user gave, and no other (Ray would rewrite the loopback address).
    assert set(re.findall(r"\d+\.\d+\.\d+\.\d+", "\n".join(output))) == {"127.0.0.1"}
