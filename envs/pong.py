"""Atari Pong, two ways: ``pong`` for PPO and ``pong-pixels`` for policy gradient.

Both build ``ALE/Pong-v5`` (ale-py ships the ROM) with ``repeat_action_probability=0``
and ``render_mode="rgb_array"``. ``render()`` returns the real 210×160 game frame,
upscaled ×3 for viewing, and ``metadata["render_fps"]`` is the game's speed per agent
step, so videos play in real time whatever the agent observes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

ALE_ID = "ALE/Pong-v5"
GAME_FPS = 60  # Atari frames per second
FRAMESKIP = 4
UPSCALE = 3
UP, DOWN = 2, 3  # ALE actions used by pong-pixels


class UpscaledRender(gym.Wrapper):
    """``render()`` gives the full game frame, ``scale`` times larger (nearest pixel)."""

    def __init__(self, env: gym.Env, scale: int = UPSCALE, frameskip: int = FRAMESKIP) -> None:
        super().__init__(env)
        self.scale = scale
        self.metadata = {**env.metadata, "render_fps": GAME_FPS / frameskip}

    def render(self) -> np.ndarray:
        frame = self.env.render()
        return np.repeat(np.repeat(frame, self.scale, axis=0), self.scale, axis=1)


def _ale(frameskip: int, config: dict[str, Any]) -> gym.Env:
    import ale_py

    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner at every env built
    gym.register_envs(ale_py)
    return gym.make(
        ALE_ID,
        frameskip=frameskip,
        repeat_action_probability=0.0,
        full_action_space=False,
        render_mode="rgb_array",
        **config,
    )


def make_pong(env_config: dict[str, Any] | None = None) -> gym.Env:
    """Pong through RLlib's Atari wrappers: frameskip 4 (max over the last 2 frames), grey
    ``dim``×``dim`` (default 64) scaled to [-1, 1], up to 30 no-op starts.

    Frame stacking is not done here but by RLlib connectors (``frame_stacking_connectors``),
    so the stack lives in the policy's pipeline, is saved in its checkpoints and never
    crosses the network 4 times over.
    """
    from ray.rllib.env.wrappers.atari_wrappers import wrap_atari_for_new_api_stack

    config = dict(env_config or {})
    dim = int(config.pop("dim", 64))
    env = wrap_atari_for_new_api_stack(
        _ale(1, config), dim=dim, frameskip=FRAMESKIP, framestack=None
    )
    return UpscaledRender(env)


def frame_stacking_connectors(num_frames: int = 4) -> dict[str, Any]:
    """``env_to_module_connector`` and ``learner_connector`` that stack the last frames."""
    from ray.rllib.connectors.env_to_module.frame_stacking import FrameStackingEnvToModule
    from ray.rllib.connectors.learner.frame_stacking import FrameStackingLearner

    return {
        "env_to_module_connector": lambda env, spaces=None, device=None: (
            FrameStackingEnvToModule(num_frames=num_frames)
        ),
        "learner_connector": lambda obs_space, act_space: FrameStackingLearner(
            num_frames=num_frames
        ),
    }


def karpathy_frame(frame: np.ndarray) -> np.ndarray:
    """The Pong-from-pixels tutorial's preprocessing of one 210×160×3 frame: crop rows
    35:195, keep every 2nd pixel of the red channel, erase the background (144, 109),
    set everything else (paddles, ball) to 1. Returns 80×80 float32."""
    image = frame[35:195:2, ::2, 0].astype(np.float32)
    image[(image == 144) | (image == 109)] = 0
    image[image != 0] = 1
    return image


class PongPixels(gym.Wrapper):
    """Pong as the tutorial's agent saw it: the difference of consecutive preprocessed
    frames (6400 values in {-1, 0, 1}; zeros after a reset) and two actions, UP and DOWN."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (80 * 80,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._previous: np.ndarray | None = None

    def reset(self, **kwargs: Any):
        frame, info = self.env.reset(**kwargs)
        self._previous = karpathy_frame(frame)
        return np.zeros(80 * 80, np.float32), info

    def step(self, action: int):
        frame, reward, terminated, truncated, info = self.env.step((UP, DOWN)[int(action)])
        current = karpathy_frame(frame)
        difference = (current - self._previous).ravel()
        self._previous = current
        return difference, reward, terminated, truncated, info


def make_pong_pixels(env_config: dict[str, Any] | None = None) -> gym.Env:
    """Pong for the policy-gradient tutorial's setup (frameskip 4, no sticky actions)."""
    return UpscaledRender(PongPixels(_ale(FRAMESKIP, dict(env_config or {}))))
