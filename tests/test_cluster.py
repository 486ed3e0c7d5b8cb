"""Distribution, for real: separate `ray start` nodes on 127.0.0.1, a script joining with
RAY_ADDRESS, and `ray job submit --working-dir .`."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    REPO,
    LocalCluster,
    mlflow_client,
    run_script,
    smoke_run_with_videos,
    trial_dir,
)

from analysis.watch import read_results

# Env runners on the worker node only: the trial itself takes the head's one CPU.
ON_WORKER = 'custom_resources_per_env_runner={"worker_node": 0.01}'


@pytest.fixture(scope="module")
def cluster():
    # The head declares one GPU, for the GPU-count check below; no trial here asks for one.
    cluster = LocalCluster().start(workers=[{"worker_node": 1}], head_gpus=1, dashboard=True)
    yield cluster
    cluster.stop()


def _node_ids(cluster: LocalCluster) -> tuple[str, str]:
    nodes = cluster.nodes()
    [worker] = [n["NodeID"] for n in nodes if "worker_node" in n["Resources"]]
    [head] = [n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"]]
    return head, worker


def test_video_recorded_on_another_node_lands_in_the_trial_dir_and_in_mlflow(cluster, tmp_path):
    head, worker = _node_ids(cluster)
    pin = 'evaluation_config={"custom_resources_per_env_runner": {"worker_node": 0.01}}'
    proc = smoke_run_with_videos(
        tmp_path, "remote", "--config", pin, "--eval-runners", "1", "--track", "mlflow",
        env={**cluster.env, "RAY_ADDRESS": cluster.address},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    trial = trial_dir(tmp_path / "remote")
    rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    videos = [r["evaluation"]["video"] for r in rows if "video" in r.get("evaluation", {})]
    assert len(videos) >= 2
    for video in videos:
        assert video["node_id"] == worker != head  # recorded away from the driver's node
        assert (trial / "videos" / video["path"].rsplit("/", 1)[-1]).exists()
    assert len(list((trial / "videos").glob("*.mp4"))) >= 2
    # --track mlflow logs from the driver: the videos reach MLflow's store from there.
    client = mlflow_client(tmp_path)
    [run] = client.search_runs([client.get_experiment_by_name("remote").experiment_id])
    logged = [a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run.info.run_id, "videos")]
    assert sorted(logged) == sorted(v["path"].rsplit("/", 1)[-1] for v in videos)


def _assert_ran_on_worker(cluster, before: dict[str, str], experiment: Path) -> None:
    _, worker = _node_ids(cluster)
    new = {actor: node for actor, node in cluster.env_runners().items() if actor not in before}
    assert new and set(new.values()) == {worker}, new  # the env runners sampled on the worker
    trial = trial_dir(experiment)
    assert list(trial.glob("checkpoint_*/rllib_checkpoint.json"))
    assert list(trial.glob("videos/iter_*.mp4"))
    assert (experiment / "report.html").exists()


def test_script_joins_the_cluster_with_ray_address(cluster, tmp_path):
    before = cluster.env_runners()
    proc = subprocess.run(
        [
            "python", "experiments/cartpole_ppo.py", "--smoke", "--env-runners", "1",
            "--config", ON_WORKER, "--report-episodes", "1",
            "--storage", str(tmp_path), "--name", "joined",
        ],
        cwd=REPO, env={**cluster.env, "RAY_ADDRESS": cluster.address},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _assert_ran_on_worker(cluster, before, tmp_path / "joined")


def test_ray_job_submit_and_ray_job_stop_then_a_new_job_resumes(cluster, tmp_path):
    before = cluster.env_runners()
    # 30,000 steps: the stop (seconds after the first checkpoint) must land before the end,
    # also on a VM twice as fast as the one where 10,000 raced it.
    flags = ["--env-runners", "1", "--config", ON_WORKER, "--max-timesteps", "30000",
             "--checkpoint-every", "1", "--eval-interval", "10", "--report-episodes", "1",
             "--storage", str(tmp_path), "--name", "submitted"]  # fmt: skip
    job = ["ray", "job", "submit", "--address", cluster.dashboard, "--working-dir", "."]
    submitted = subprocess.run(
        [*job, "--no-wait", "--", "python", "experiments/cartpole_ppo.py", *flags],
        cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    job_id = re.search(r"raysubmit_\w+", submitted.stdout)[0]
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("submitted/*/checkpoint_*")) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop = subprocess.run(
        ["ray", "job", "stop", "--address", cluster.dashboard, job_id],
        env=cluster.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert stop.returncode == 0, stop.stdout[-2000:] + stop.stderr[-2000:]
    logs = subprocess.run(
        ["ray", "job", "logs", "--address", cluster.dashboard, job_id],
        env=cluster.env, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    # ray job stop sends SIGTERM: the driver saves Tune's state and says how to go on.
    assert re.search(r"interrupted; continue with: python .* --resume$", logs, re.M), logs[-3000:]
    stopped_at = read_results(trial_dir(tmp_path / "submitted"))[-1]
    assert stopped_at["num_env_steps_sampled_lifetime"] < 30000, "it finished before the stop"

    resumed = subprocess.run(
        [*job, "--", "python", "experiments/cartpole_ppo.py", *flags, "--resume"],
        cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "succeeded" in resumed.stdout
    assert "== cartpole_ppo: submitted" in resumed.stdout  # the job's own output, streamed back
    last = read_results(trial_dir(tmp_path / "submitted"))[-1]
    assert last["training_iteration"] > stopped_at["training_iteration"]
    assert last["num_env_steps_sampled_lifetime"] >= 30000
    _assert_ran_on_worker(cluster, before, tmp_path / "submitted")


def test_more_gpus_than_the_cluster_has_is_refused_before_training(cluster, tmp_path):
    # Two learners of one GPU each on a cluster of one GPU: Tune would keep the trial
    # pending forever. The per-learner count alone (1) would pass.
    proc = run_script(
        "--learners", "2", "--gpus", "1", "--storage", str(tmp_path), timeout=120,
        env={**cluster.env, "RAY_ADDRESS": cluster.address},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    [line] = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert (
        "--learners 2 × --gpus 1 = 2 GPUs asked for, but this Ray cluster has 1; "
        "lower --learners or --gpus" in line
    )
    assert not any(tmp_path.iterdir())  # no experiment started


def test_the_dashboard_port_is_refused_in_seconds_naming_the_gcs_port(cluster, tmp_path):
    # The common mistake: the dashboard's port (what `ray job submit` uses), not the GCS's.
    address = f"127.0.0.1:{cluster.dashboard.rsplit(':', 1)[1]}"
    started = time.monotonic()
    proc = run_script("--address", address, "--storage", str(tmp_path), env=cluster.env)
    elapsed = time.monotonic() - started
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and elapsed <= 10, (elapsed, output)
    assert len(output) <= 3 and "Traceback" not in proc.stderr, output
    assert "that is Ray's dashboard" in output[-1] and "usually 6379" in output[-1], output
    assert address in output[-1]
    assert set(re.findall(r"\d+\.\d+\.\d+\.\d+", "\n".join(output))) == {"127.0.0.1"}
