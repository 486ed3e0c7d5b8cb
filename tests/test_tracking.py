"""``--track wandb|mlflow`` with the real libraries, offline: W&B in offline mode (its run
files read back record by record), MLflow with a local file store (read back through its own
client)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import (
    CARTPOLE_PPO,
    REPO,
    ChildLines,
    at_iteration,
    decode_mp4,
    mlflow_client,
    rows_once,
    run_script,
    trial_dir,
    trial_dirs,
)
from wandb.proto import wandb_internal_pb2 as pb

OFFLINE = {"WANDB_MODE": "offline"}


def wandb_records(run_file: Path):
    """The records of a W&B run file (``run-<id>.wandb``): a 7-byte header, then LevelDB's
    log format (32 KiB blocks of chunks: crc32, length, type 1 full / 2 first / 4 last)."""
    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    pos, chunk = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(chunk)
            yield record
            chunk = b""


def wandb_history(run_file: Path) -> dict[str, list]:
    history: dict[str, list] = {}
    for record in wandb_records(run_file):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                history.setdefault(key, []).append(json.loads(item.value_json))
    return history


def offline_runs(directory: Path) -> list[Path]:
    return sorted(directory.glob("wandb/offline-run-*/run-*.wandb"))


def test_a_run_reaches_wandb_offline_and_mlflow_with_videos_and_report(tmp_path):
    storage = tmp_path / "results"
    proc = run_script(
        "--smoke", "--eval-interval", "1", "--storage", str(storage), "--name", "tracked",
        "--track", "wandb", "--track", "mlflow", env=OFFLINE,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "tracking: W&B project cartpole_ppo, group tracked (offline" in proc.stdout
    database = f"sqlite:///{storage.resolve() / 'mlflow.db'}"
    assert f"tracking: MLflow experiment tracked at {database}" in proc.stdout
    assert f"tracking: open it with: mlflow ui --backend-store-uri {database}" in proc.stdout
    trial = trial_dir(storage / "tracked")
    evaluations = [
        json.loads(line)["evaluation"]["env_runners"]["episode_return_mean"]
        for line in (trial / "result.json").read_text().splitlines()
    ]

    # W&B: the trial's offline run, in the trial directory, holds the scalars and the videos.
    [run_file] = offline_runs(trial)
    history = wandb_history(run_file)
    assert len(history["return_last100"]) == 2
    assert history["evaluation/env_runners/episode_return_mean"] == evaluations
    videos = list(run_file.parent.glob("files/media/videos/**/*.mp4"))
    assert len(videos) == 2 and all(decode_mp4(v)[0] > 0 for v in videos)
    # The report and the best checkpoint reach the best trial's run, resumed at the end.
    [outcome] = offline_runs(storage / "tracked")
    assert outcome.name == run_file.name  # the same run id: the trial's run, continued
    summary = [
        r.summary for r in wandb_records(outcome) if r.WhichOneof("record_type") == "summary"
    ]
    assert any(item.key == "best_checkpoint" for s in summary for item in s.update)

    # MLflow: one run, its metrics, the MP4s and report.html as artifacts, read back.
    client = mlflow_client(storage)
    experiment = client.get_experiment_by_name("tracked")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["command"].startswith("cartpole_ppo.py --smoke")
    assert len(client.get_metric_history(run.info.run_id, "return_last100")) == 2
    returns = client.get_metric_history(
        run.info.run_id, "evaluation/env_runners/episode_return_mean"
    )
    assert [m.value for m in returns] == evaluations
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "videos")]
    assert len(artifacts) == 2
    local = Path(client.download_artifacts(run.info.run_id, artifacts[0], str(tmp_path)))
    assert decode_mp4(local)[0] > 0
    assert "report.html" in [a.path for a in client.list_artifacts(run.info.run_id)]
    assert Path(run.data.tags["best_checkpoint"]).parent == trial
    # The artifacts beside the database, not in an mlruns/ wherever the script ran.
    assert list((storage / "mlartifacts" / "tracked").rglob("*.mp4"))
    assert not (REPO / "mlruns").exists()


def test_a_file_store_the_user_sets_still_works(tmp_path):
    store = (tmp_path / "mlruns").resolve().as_uri()
    env = {"MLFLOW_TRACKING_URI": store, "MLFLOW_ALLOW_FILE_STORE": "true"}
    proc = run_script(
        "--smoke", "--no-report", "--storage", str(tmp_path / "results"), "--name", "filed",
        "--track", "mlflow", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import mlflow

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(store)
    [run] = client.search_runs([client.get_experiment_by_name("filed").experiment_id])
    assert len(client.get_metric_history(run.info.run_id, "return_last100")) == 2


def test_a_sweep_is_one_run_per_trial_in_one_group(tmp_path):
    storage = tmp_path / "results"
    proc = run_script(
        "--sweep", "--num-samples", "1", "--max-timesteps", "2000", "--eval-interval", "0",
        "--no-video", "--no-report", "--storage", str(storage), "--name", "grid",
        "--track", "wandb", "--track", "mlflow", env=OFFLINE, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    trials = trial_dirs(storage / "grid")
    assert len(trials) == 4

    groups = set()
    for trial in trials:
        [run_file] = offline_runs(trial)
        [run] = [r.run for r in wandb_records(run_file) if r.WhichOneof("record_type") == "run"]
        groups.add((run.project, run.run_group))
        config = {item.key: json.loads(item.value_json) for item in run.config.update}
        assert {"fcnet_hiddens", "fcnet_activation", "lr", "command"} <= set(config)
    assert groups == {("cartpole_ppo", "grid")}

    client = mlflow_client(storage)
    runs = client.search_runs([client.get_experiment_by_name("grid").experiment_id])
    assert len(runs) == 4
    grid = {(r.data.params["fcnet_hiddens"], r.data.params["fcnet_activation"]) for r in runs}
    assert grid == {(h, a) for h in ("[32]", "[64]") for a in ("linear", "relu")}


@pytest.mark.parametrize(
    ("tool", "env", "expected"),
    [
        # A wandb that cannot be imported, as where it is not installed.
        ("wandb", {"PYTHONPATH": "{shadow}"}, "--track wandb needs the wandb package: pip"),
        # Online, no key: W&B would fail only later, inside Tune's logging actor.
        ("wandb", {"WANDB_MODE": "", "WANDB_API_KEY": "", "HOME": "{home}"}, "no W&B API key"),
        # MLflow's client would retry for ~4 minutes before the first trial starts.
        (
            "mlflow",
            {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
            "the MLflow server at http://127.0.0.1:9 does not answer (Connection refused)",
        ),
    ],
    ids=["not-installed", "no-wandb-key", "mlflow-server-down"],
)
def test_tracking_that_cannot_work_is_one_line_and_starts_no_ray(tool, env, expected, tmp_path):
    shadow = tmp_path / "shadow" / "wandb"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'wandb'\")\n")
    env = {k: v.format(shadow=shadow.parent, home=tmp_path) for k, v in env.items()}
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    try:
        proc = run_script(
            "--track", tool, "--storage", str(tmp_path / "results"),
            env={**env, "RAY_TMPDIR": str(ray_tmp)}, timeout=120,
        )  # fmt: skip
        started = (ray_tmp / "ray").exists()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    assert not started


def test_ctrl_c_then_resume_continues_the_same_tracked_runs(tmp_path):
    storage = tmp_path / "results"
    args = [
        sys.executable, str(CARTPOLE_PPO), "--storage", str(storage), "--name", "again",
        "--max-timesteps", "20000", "--stop-return", "10000", "--checkpoint-every", "1",
        "--eval-interval", "0", "--no-video", "--no-report",
        "--track", "wandb", "--track", "mlflow",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | OFFLINE
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # Interrupted at its 3rd result (~3,000 of 20,000 steps), seen within 0.2 s.
    lines = ChildLines(proc)
    rows_once(storage / "again", at_iteration(3), lines, timeout=180)
    proc.send_signal(signal.SIGINT)
    # Tune's W&B callback alone would wait 30 minutes here for the interrupted trial's run.
    output = lines.wait(timeout=90)
    assert proc.returncode == 130, output[-3000:]
    resumed = subprocess.run(
        [*args, "--resume"], cwd=REPO, env=env, text=True, capture_output=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trial = trial_dir(storage / "again")
    iterations = [
        json.loads(line)["training_iteration"]
        for line in (trial / "result.json").read_text().splitlines()
    ]

    # W&B: the resumed run has the interrupted run's id and goes on from where it stopped.
    first, second = offline_runs(trial)
    assert first.name == second.name  # run-<trial id>.wandb
    before, after = (wandb_history(f)["training_iteration"] for f in (first, second))
    assert before + after == iterations and before and after

    # MLflow: still one run, whose history holds both parts.
    client = mlflow_client(storage)
    [run] = client.search_runs([client.get_experiment_by_name("again").experiment_id])
    logged = client.get_metric_history(run.info.run_id, "training_iteration")
    assert sorted(m.value for m in logged) == iterations
    assert run.info.status == "FINISHED"
