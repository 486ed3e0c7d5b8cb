"""Distribution, for real: separate `ray start` nodes on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from conftest import LocalCluster, smoke_run_with_videos


@pytest.fixture(scope="module")
def cluster():
    cluster = LocalCluster().start(workers=[{"eval_node": 1}])
    yield cluster
    cluster.stop()


def test_video_recorded_on_another_node_lands_in_the_trial_dir(cluster, tmp_path):
    nodes = cluster.nodes()
    [eval_node] = [n["NodeID"] for n in nodes if "eval_node" in n["Resources"]]
    [head] = [n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"]]
    pin = 'evaluation_config={"custom_resources_per_env_runner": {"eval_node": 0.01}}'
    proc = smoke_run_with_videos(
        tmp_path,
        "remote",
        "--config",
        pin,
        "--eval-runners",
        "1",
        env={**cluster.env, "RAY_ADDRESS": cluster.address},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [trial_dir] = [p for p in (tmp_path / "remote").iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
    videos = [r["evaluation"]["video"] for r in rows if "video" in r.get("evaluation", {})]
    assert len(videos) >= 2
    for video in videos:
        assert video["node_id"] == eval_node != head  # recorded away from the driver's node
        assert (trial_dir / "videos" / video["path"].rsplit("/", 1)[-1]).exists()
    assert len(list((trial_dir / "videos").glob("*.mp4"))) >= 2
