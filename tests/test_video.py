"""Evaluation videos: real Ray, real Xvfb, real MP4s decoded back and counted."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
from conftest import decode_mp4, load_script, smoke_run_with_videos

from envs import make_env


def _rows(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def _train(tmp_path: Path, *args: str, name: str = "video", smoke: bool = True):
    script = load_script()
    grid = script.run(
        script.EXPERIMENT,
        script="cartpole_ppo",
        argv=[
            *(["--smoke"] if smoke else []),
            "--eval-interval",
            "1",
            "--no-report",
            "--storage",
            str(tmp_path),
            "--name",
            name,
            *args,
        ],
    )
    [result] = list(grid)
    assert result.error is None
    return Path(result.path)


class _OneEnv:
    """What ``video_frame`` sees of RLlib's SyncVectorEnv, around one env."""

    def __init__(self, env):
        self.envs = [env]


def _render_size(env_id: str = "CartPole-v1") -> tuple[int, int]:
    env = make_env(env_id)
    env.reset(seed=0)
    height, width = env.render().shape[:2]
    env.close()
    return width, height


def test_short_run_writes_decodable_mp4s_of_whole_episodes(ray_session, tmp_path):
    trial_dir = _train(tmp_path)
    videos = sorted((trial_dir / "videos").glob("*.mp4"))
    assert len(videos) >= 2, videos
    for video in videos:
        match = re.fullmatch(r"iter_(\d{6})_ep0_return_(\d+)\.mp4", video.name)
        assert match, video.name
        frames, size = decode_mp4(video)
        episode_length = int(match.group(2))  # CartPole: +1 reward per step, so return = length
        assert abs(frames - (episode_length + 1)) <= 1, (video.name, frames)
        assert size == _render_size()
        assert imageio_ffmpeg.read_frames(str(video)).__next__()["fps"] == 50  # CartPole's
    reported = [row["evaluation"]["video"] for row in _rows(trial_dir) if "evaluation" in row]
    assert len(reported) >= 2
    for video in reported:
        assert Path(video["path"]).exists()
        assert Path(video["path"]).parent == trial_dir / "videos"
        assert video["warnings"] == 0 and video["frames"] == video["length"] + 1
    # No raw bytes reach the logs.
    assert b"ftyp" not in (trial_dir / "result.json").read_bytes()
    assert (trial_dir / "result.json").stat().st_size < 200_000


def test_failing_render_is_a_warning_not_a_failed_trial(ray_session, tmp_path):
    trial_dir = _train(tmp_path, "--env", "display_envs:BrokenRender-v0", name="broken")
    rows = _rows(trial_dir)
    assert rows[-1]["training_iteration"] == 2  # the trial trained to its end
    videos = [row["evaluation"]["video"] for row in rows if "video" in row.get("evaluation", {})]
    assert videos and all(v["warnings"] >= 1 for v in videos)
    assert "renderer exploded" in videos[-1]["last_warning"]
    assert not list((trial_dir / "videos").glob("*.mp4"))  # (none where the folder is missing)


def _xvfb_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "Xvfb":
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def test_env_that_needs_a_display_records_inside_xvfb_and_leaves_none(tmp_path):
    """As a user runs it: its own Ray, no DISPLAY; afterwards no Xvfb is left running."""
    before = _xvfb_pids()
    proc = smoke_run_with_videos(tmp_path, "display", "--env", "display_envs:NeedsDisplay-v0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [trial_dir] = [p for p in (tmp_path / "display").iterdir() if p.is_dir()]
    videos = sorted((trial_dir / "videos").glob("*.mp4"))
    assert len(videos) >= 2
    frames, size = decode_mp4(videos[0])
    assert frames > 1 and size == _render_size()
    deadline = time.monotonic() + 10
    while _xvfb_pids() - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _xvfb_pids() - before, "an Xvfb outlived the run"


def test_frames_are_the_game_picture_not_the_observation(ray_session, tmp_path):
    trial_dir = _train(tmp_path, "--eval-interval", "2", name="picture")
    [video] = sorted((trial_dir / "videos").glob("*.mp4"))
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = reader.__next__()
    first = np.frombuffer(next(reader), dtype=np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
    # CartPole's picture: mostly white background with a dark cart, in colour, 600x400.
    assert first.mean() > 200 and first.min() < 100


def test_missing_xvfb_is_a_one_line_warning_and_training_goes_on(tmp_path):
    """No Xvfb on PATH, an env that needs a display: a hint to install it, no video, no crash."""
    path_without_xvfb = tmp_path / "bin"
    path_without_xvfb.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for tool in Path(directory).glob("*") if Path(directory).is_dir() else []:
            link = path_without_xvfb / tool.name
            if tool.name != "Xvfb" and not link.exists():
                link.symlink_to(tool)
    proc = smoke_run_with_videos(
        tmp_path,
        "noxvfb",
        "--env",
        "display_envs:NeedsDisplay-v0",
        env={"PATH": str(path_without_xvfb)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    hints = [line for line in output.splitlines() if "apt-get install xvfb" in line]
    assert hints and all(
        h.endswith("Xvfb not found: install it (apt-get install xvfb); continuing without video")
        for h in hints
    )
    assert "best return" in proc.stdout  # training finished and summarised
    [trial_dir] = [p for p in (tmp_path / "noxvfb").iterdir() if p.is_dir()]
    assert not list(trial_dir.glob("videos/*.mp4"))
    videos = [
        row["evaluation"]["video"]
        for row in _rows(trial_dir)
        if "video" in row.get("evaluation", {})
    ]
    assert videos and "apt-get install xvfb" in videos[0]["last_warning"]


def test_odd_frame_sizes_are_padded_to_what_h264_yuv420p_accepts(tmp_path):
    from video import Mp4Stream

    stream = Mp4Stream(str(tmp_path / "odd.mp4"), width=161, height=101, fps=30)
    for shade in range(0, 250, 10):
        stream.add(np.full((101, 161, 3), shade, dtype=np.uint8))
    (tmp_path / "copy.mp4").write_bytes(stream.finish())
    assert not (tmp_path / "odd.mp4").exists()  # the encoder's temporary file is gone
    assert decode_mp4(tmp_path / "copy.mp4") == (25, (162, 102))


def test_the_iteration_that_stops_training_gets_its_own_evaluation_video(ray_session, tmp_path):
    # --smoke stops after iteration 2; the regular rounds (every 5) never come.
    trial_dir = _train(tmp_path, "--eval-interval", "5", name="final")
    videos = sorted(p.name for p in (trial_dir / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].startswith("iter_000002_ep0_")
    rows = _rows(trial_dir)
    assert "video" not in rows[0].get("evaluation", {})
    assert rows[-1]["evaluation"]["video"]["path"].endswith(videos[0])
    # The round is the script's 5 greedy episodes, its figure their mean.
    assert rows[-1]["evaluation"]["env_runners"]["episodes_in_round"] == 5


def test_pygame_frames_read_from_the_surface_equal_what_render_returns():
    # CartPole's frames are read straight from pygame's surface (gymnasium's own copy is
    # ~1 ms a frame): they must be the very pixels render() gives, in every state.
    from video.frames import _SURFACE_READS, as_rgb, video_frame

    env = make_env("CartPole-v1")
    env.reset(seed=3)
    vector = _OneEnv(env)
    try:
        for step in range(40):
            frame = as_rgb(*video_frame(vector, 0))
            assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
            assert np.array_equal(frame, env.render()), f"frame {step} differs"
            if env.step(step % 2)[2]:
                env.reset()
        assert _SURFACE_READS[env.unwrapped] is True  # the surface path was the one taken
    finally:
        env.close()


def test_the_mp4_shows_the_colours_render_returns(tmp_path):
    # Frames reach ffmpeg as yuv420p converted from pygame's B, G, R bytes: decoded back,
    # they must match render(), pole and axle colours included (~48 dB; swapped red and
    # blue, on CartPole's few coloured pixels, measured 32.7 dB).
    from video import Mp4Stream, video_frame

    env = make_env("CartPole-v1")
    env.reset(seed=5)
    vector, rendered = _OneEnv(env), []
    stream = Mp4Stream(str(tmp_path / "part.mp4"), width=600, height=400, fps=50)
    try:
        for step in range(30):
            pixels, layout = video_frame(vector, 0)
            stream.add(pixels, layout)
            rendered.append(env.render())
            env.step(step % 2)
        assert layout == "bgrx"  # the surface path, not render()'s copy
        (tmp_path / "colours.mp4").write_bytes(stream.finish())
    finally:
        env.close()
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "colours.mp4"))
    next(reader)
    decoded = np.stack([np.frombuffer(f, np.uint8).reshape(400, 600, 3) for f in reader])
    expected = np.stack(rendered).astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((decoded - expected) ** 2))
    assert len(decoded) == 30 and psnr > 40, f"PSNR {psnr:.1f} dB"
    coloured = (expected.max(axis=-1) - expected.min(axis=-1)) > 60  # pole and axle
    assert np.abs(decoded[coloured] - expected[coloured]).mean() < 20


def test_envs_without_a_pygame_surface_keep_their_own_render():
    from video.frames import _SURFACE_READS, as_rgb, video_frame

    env = make_env("pong")
    env.reset(seed=0)
    try:
        frame = as_rgb(*video_frame(_OneEnv(env), 0))
        assert np.array_equal(frame, env.render())
        assert _SURFACE_READS[env.unwrapped] is False
    finally:
        env.close()


def test_a_stop_right_after_a_round_still_gets_its_own_final_round(ray_session, tmp_path):
    # RLlib repeats a round's figures in the next iteration's result: a run that stops there
    # (iteration 3, after the round of iteration 2) must not take them for a final round.
    trial_dir = _train(
        tmp_path, "--eval-interval", "2", "--max-timesteps", "2500", name="after_round", smoke=False
    )
    rows = _rows(trial_dir)
    assert [row["training_iteration"] for row in rows] == [1, 2, 3]
    videos = sorted(p.name[:14] for p in (trial_dir / "videos").glob("*.mp4"))
    assert videos == ["iter_000002_ep", "iter_000003_ep"]
    assert rows[-1]["evaluation"]["video"]["path"].endswith(".mp4")
    assert "iter_000003_" in rows[-1]["evaluation"]["video"]["path"]


class _FirstEnvPlaysLong(gym.Env):
    """Pays 1 a step; the first env of each vector env plays 40 steps, the others 3."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)
    made = 0  # instances in this process: SyncVectorEnv makes its envs in order

    def __init__(self, env_config=None):
        self.length = 40 if _FirstEnvPlaysLong.made % 4 == 0 else 3
        _FirstEnvPlaysLong.made += 1
        self.t = 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), 1.0, self.t >= self.length, False, {}


def test_an_evaluation_round_plays_each_env_s_episode_to_its_end_however_long(tmp_path):
    """A round of 4 episodes on 4 envs: RLlib alone would count the short envs' second
    episodes and never finish the long one (the one a video records)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from callbacks.one_episode_per_env import OneEpisodePerEnv

    config = (
        PPOConfig()
        .environment(_FirstEnvPlaysLong)
        .evaluation(evaluation_config={"num_envs_per_env_runner": 4})
        .callbacks(OneEpisodePerEnv)
    )
    _FirstEnvPlaysLong.made = 0
    env_runner = SingleAgentEnvRunner(config=config.get_evaluation_config_object())
    for _ in range(3):  # rounds after the first start from envs put back as they were
        episodes = env_runner.sample(num_episodes=4, explore=False)
        assert sorted(episode.get_return() for episode in episodes) == [3, 3, 3, 40]
    env_runner.stop()
