"""Pong: the three envs, and both Pong scripts end to end (--smoke)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import REPO, decode_mp4, load_script, run_script, trial_dir
from ray.rllib.utils.torch_utils import clip_gradients

from analysis import Policy, choose_best, load_experiment
from envs import make_env
from envs.pong import (
    DOWN,
    UP,
    PongPixels,
    StackedGreyFrames,
    karpathy_frame,
    make_pong_pixels,
    make_pong_vector,
)

GAME = (160, 210)  # the Atari frame, width × height
VIDEO_SIZE = (GAME[0] * 3, GAME[1] * 3)  # upscaled ×3 for viewing


def _frame() -> np.ndarray:
    frame = np.zeros((210, 160, 3), np.uint8)
    frame[..., 0] = 144  # background (red channel 144)
    frame[35 + 2 * 5, 2 * 7, 0] = 236  # the ball: kept, row 5 col 7 of the 80×80 image
    frame[35 + 2 * 6, 2 * 8, 0] = 109  # the other background shade: erased
    frame[35 + 2 * 9, 2 * 3, 0] = 92  # a paddle pixel: kept
    frame[36, 0, 0] = 92  # odd row: dropped by the ×2 downsampling
    frame[20, 10, 0] = 236  # above row 35: cropped away (the score)
    frame[35 + 2 * 2, 2 * 2, 1:] = 236  # green/blue only: the red channel decides
    return frame


def test_pong_pixels_preprocessing_matches_a_hand_computed_frame():
    expected = np.zeros((80, 80), np.float32)
    expected[5, 7] = 1
    expected[9, 3] = 1
    np.testing.assert_array_equal(karpathy_frame(_frame()), expected)


class _TwoFrames(gym.Env):
    """Stands in for ALE: a reset frame, then one step's frame."""

    observation_space = gym.spaces.Box(0, 255, (210, 160, 3), np.uint8)
    action_space = gym.spaces.Discrete(6)

    def __init__(self) -> None:
        self.actions: list[int] = []

    def reset(self, **kwargs):
        return _frame(), {}

    def step(self, action):
        self.actions.append(action)
        moved = np.zeros((210, 160, 3), np.uint8)
        moved[35 + 2 * 5, 2 * 8, 0] = 236  # the ball moved one column right
        moved[35 + 2 * 9, 2 * 3, 0] = 92  # the paddle stayed
        return moved, 1.0, False, False, {}


def test_pong_pixels_observes_differences_and_plays_up_and_down():
    env = PongPixels(_TwoFrames())
    first, _ = env.reset()
    assert first.shape == (6400,) and not first.any()  # nothing moved yet
    obs, reward, *_ = env.step(1)
    difference = obs.reshape(80, 80)
    expected = np.zeros((80, 80), np.float32)
    expected[5, 7], expected[5, 8] = -1, 1  # the ball left one cell and entered the next
    np.testing.assert_array_equal(difference, expected)
    env.step(0)
    assert env.unwrapped.actions == [DOWN, UP] and reward == 1.0


def test_pong_pixels_evaluation_episodes_start_apart():
    # Greedy play of deterministic Pong repeats one episode unless the starts differ.
    env = make_pong_pixels(load_script(REPO / "experiments" / "pong_pg.py").EXPERIMENT.config
                           .evaluation_config["env_config"])  # fmt: skip
    starts = set()
    for seed in range(8):
        env.reset(seed=seed)
        starts.add(env.unwrapped.ale.getEpisodeFrameNumber())
    assert len(starts) >= 4, starts


@pytest.mark.parametrize(
    "make, config, actions",
    [(make_pong_vector, {"noop_max": 0}, 6), (make_pong_pixels, {}, 2)],
    ids=["pong-vector", "pong-pixels"],
)
def test_the_vector_env_observes_as_the_single_env_for_the_same_seed_and_actions(
    make, config, actions
):
    # Random no-ops at reset draw from different generators in the two; none here.
    vector, single = make({**config, "num_envs": 1}), make(config)
    seen, _ = vector.reset(seed=7)
    expected, _ = single.reset(seed=7)
    rng = np.random.default_rng(0)
    for step in range(5000):
        np.testing.assert_array_equal(seen[0], expected, err_msg=f"step {step}")
        action = int(rng.integers(actions))
        seen, reward, terminated, truncated, _ = vector.step(np.array([action]))
        expected, expected_reward, expected_end, _, _ = single.step(action)
        assert (reward[0], terminated[0]) == (expected_reward, expected_end), step
        if expected_end:
            break  # (the final frame, which no policy acts on, ALE's vector env draws apart)
    assert expected_end and step > 500, "an episode of Pong played to its end"
    # ALE's vector env resets an ended env on the next step: a new episode's first observation.
    np.testing.assert_array_equal(vector.step(np.array([0]))[0][0], single.reset()[0])


def test_pong_envs_render_the_real_game_frame_upscaled():
    for env_id, observation in (
        ("pong", (64, 64, 1)),
        ("pong-vector", (64, 64, 4)),
        ("pong-pixels", (6400,)),
    ):
        env = make_env(env_id)
        obs, _ = env.reset(seed=0)
        assert obs.shape == observation
        frame = env.render()
        assert frame.shape == (VIDEO_SIZE[1], VIDEO_SIZE[0], 3)
        game = env.unwrapped.render()  # the 210×160 screen: each pixel became a 3×3 block
        assert np.array_equal(frame, np.repeat(np.repeat(game, 3, axis=0), 3, axis=1))
        assert env.metadata["render_fps"] == 15  # 60 Hz game, 4 frames per agent step
        env.close()


def _smoke(script: str, tmp_path: Path, *flags: str) -> Path:
    proc = run_script(
        "--smoke", "--eval-episodes", "2", "--report-episodes", "1", "--storage", str(tmp_path),
        "--name", "smoke", *flags, script=REPO / "experiments" / script, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^iterations +2$", proc.stdout, re.M)
    experiment = tmp_path / "smoke"
    trial = trial_dir(experiment)
    assert list(trial.glob("checkpoint_*/rllib_checkpoint.json"))
    if "--no-video" in flags:  # and no report: the test restores the policy itself
        return experiment
    [video] = trial.glob("videos/iter_000002_ep0_return_*.mp4")
    frames, size = decode_mp4(video)
    assert size == VIDEO_SIZE and frames > 100
    assert (experiment / "report.html").exists()
    return experiment


def test_pong_ppo_smoke_restores_a_policy_that_observes_as_in_training(tmp_path):
    experiment = _smoke("pong_ppo.py", tmp_path)
    best = choose_best(load_experiment(experiment))
    policy = Policy(best.checkpoint.path)
    try:
        # Trained on ALE's vector env; restored on one env that renders and observes the same.
        env, chain = policy.runner.env.unwrapped.envs[0], []
        while isinstance(env, gym.Wrapper):
            chain.append(env)
            env = env.env
        assert any(isinstance(w, StackedGreyFrames) and w.dim == 64 for w in chain), chain
        space = policy.runner.env.single_observation_space
        assert (
            space
            == policy.runner.module.observation_space
            == make_pong_vector({"num_envs": 1}).single_observation_space
        )
        episodes = policy.play(1)
        assert_a_whole_game(episodes)
    finally:
        policy.stop()


def test_pong_ppo_atari_ppo_preset_restores_with_frame_stacking(tmp_path):
    experiment = _smoke(
        "pong_ppo.py", tmp_path, "--preset", "atari_ppo", "--no-video", "--no-report"
    )
    best = choose_best(load_experiment(experiment))
    policy = Policy(best.checkpoint.path)
    try:
        # The env gives one 64×64 frame; the restored connectors stack 4 for the network.
        assert policy.runner.env.single_observation_space.shape == (64, 64, 1)
        stacker = [
            c for c in policy.runner._env_to_module.connectors if "FrameStack" in type(c).__name__
        ]
        assert stacker and stacker[0].num_frames == 4
        assert policy.runner.module.observation_space.shape == (64, 64, 4)
        episodes = policy.play(1)
        assert_a_whole_game(episodes)
    finally:
        policy.stop()


def assert_a_whole_game(episodes) -> None:
    """One game played to its end: a side reached 21 points, so the score difference (the
    return) is a whole number other than 0, over hundreds of steps (~800 for a 0-21 loss)."""
    [score] = episodes.returns
    assert score == round(score) and score != 0, score
    assert episodes.lengths[0] >= 21 * 25, episodes.lengths


def test_pong_pg_smoke_checkpoints_and_records(tmp_path):
    _smoke("pong_pg.py", tmp_path)


def test_pong_ppo_learner_steps_adam_in_one_kernel_clips_and_skips_a_step_with_nan_gradients():
    from ray.rllib.core import DEFAULT_MODULE_ID

    from runner import load_script

    env = make_pong_vector({"num_envs": 1})
    spaces = {DEFAULT_MODULE_ID: (env.single_observation_space, env.single_action_space)}
    config = load_script("pong_ppo").config.copy(copy_frozen=False)
    learner = config.build_learner(spaces=spaces)
    [(_, optimizer)] = learner.get_optimizers_for_module(DEFAULT_MODULE_ID)
    assert optimizer.defaults["fused"]
    params = learner.get_parameters(learner.module[DEFAULT_MODULE_ID])
    before = [p.detach().clone() for p in params]

    def step(gradient: float) -> bool:
        """One optimizer step as RLlib's update makes it: postprocess, then apply."""
        grads = {learner.get_param_ref(p): torch.full_like(p, gradient) for p in params}
        learner.apply_gradients(learner.postprocess_gradients(grads))
        return any(not torch.equal(b, p) for b, p in zip(before, params, strict=True))

    assert not step(float("nan")), "a nan gradient changed the weights"
    assert not step(float("inf")), "an inf gradient changed the weights"
    assert step(1.0), "a finite gradient did not"

    # Clipped to the global norm RLlib's clip_gradients gives, and that norm reported.
    grads = {learner.get_param_ref(p): torch.full_like(p, 1.0) for p in params}
    expected = {ref: g.clone() for ref, g in grads.items()}
    clip_gradients(expected, grad_clip=config.grad_clip, grad_clip_by="global_norm")
    clipped = learner.postprocess_gradients(grads)
    assert all(torch.allclose(clipped[ref], g) for ref, g in expected.items())
    norm = learner.metrics.peek((DEFAULT_MODULE_ID, "gradients_default_optimizer_global_norm"))
    assert norm == pytest.approx(math.sqrt(sum(p.numel() for p in params)))
    assert norm > config.grad_clip  # so the clip above had work to do
