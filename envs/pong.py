"""Atari Pong, three ways: ``pong-vector`` and ``pong`` for PPO, ``pong-pixels`` for
policy gradient.

- ``pong-vector``: ALE's own C++ vector env (``ale_py.vector_env.AtariVectorEnv``), which
  steps its envs on threads and preprocesses in C++: 64×64 grey, the last 4 frames stacked
  on the last axis (height, width, stack), uint8. RLlib builds it whole when
  ``gym_env_vectorize_mode`` is "vector_entry_point"; anywhere else (evaluation, video, a
  restored checkpoint) the same name builds one env that gives the same observations and
  renders the game (``StackedGreyFrames``).
- ``pong``: RLlib's Atari wrappers, one env at a time: 64×64 grey in [-1, 1], frames stacked
  by connectors (RLlib's atari_ppo example).
- ``pong-pixels``: the Pong-from-pixels tutorial's 80×80 difference frames, UP and DOWN.

All build ``ALE/Pong-v5`` (ale-py ships the ROM) with ``repeat_action_probability=0``.
``render()`` returns the real 210×160 game frame, upscaled ×3 for viewing, and
``metadata["render_fps"]`` is the game's speed per agent step, so videos play in real time
whatever the agent observes.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

ALE_ID = "ALE/Pong-v5"
GAME_FPS = 60  # Atari frames per second
FRAMESKIP = 4
UPSCALE = 3
UP, DOWN = 2, 3  # ALE actions used by pong-pixels
BACKGROUND_GREYS = (87, 107)  # ALE's greys of Pong's backgrounds, red 144 and red 109
STACK = 4  # frames the agent of pong-vector sees at once
DIM = 64  # their side, as RLlib's Atari wrappers (at 42 none of our networks learned Pong)
NOOP_MAX = 30  # random no-ops at the start of an episode, so starts differ


class UpscaledRender(gym.Wrapper):
    """``render()`` gives the full game frame, ``scale`` times larger (nearest pixel)."""

    def __init__(self, env: gym.Env, scale: int = UPSCALE, frameskip: int = FRAMESKIP) -> None:
        super().__init__(env)
        self.scale = scale
        self.metadata = {**env.metadata, "render_fps": GAME_FPS / frameskip}

    def render(self) -> np.ndarray:
        import cv2

        frame = self.env.render()
        height, width = frame.shape[:2]
        # Nearest pixel: np.repeat's picture, 3× faster (a frame of every evaluation step).
        size = (width * self.scale, height * self.scale)
        return cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)


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


def make_pong_vector(env_config: dict[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """``pong-vector``: ALE's C++ vector env of ``num_envs`` envs when RLlib passes that key
    (``gym_env_vectorize_mode="vector_entry_point"``), else one ``StackedGreyFrames`` env.

    ``dim`` (64): the frame's side; ``stack`` (4): frames stacked; ``noop_max`` (30);
    ``num_threads`` (see ``_ale_vector``).
    """
    config = dict(env_config or {})
    num_envs = config.pop("num_envs", None)
    dim, stack = int(config.pop("dim", DIM)), int(config.pop("stack", STACK))
    noop_max = int(config.pop("noop_max", NOOP_MAX))
    if num_envs is None:
        return UpscaledRender(
            StackedGreyFrames(_ale(1, config), dim=dim, stack=stack, noop_max=noop_max)
        )
    vector = _ale_vector(
        int(num_envs),
        config,
        img_height=dim,
        img_width=dim,
        grayscale=True,
        stack_num=stack,
        maxpool=True,
        noop_max=noop_max,
        reward_clipping=True,
    )
    # The stack on the last axis: the network reads (height, width, stack) as torch's
    # channels_last layout as it is, where ALE's (stack, height, width) cost a transpose
    # in every minibatch of every epoch.
    single = gym.spaces.Box(0, 255, (dim, dim, stack), np.uint8)
    return gym.wrappers.vector.TransformObservation(
        vector, _stack_last, gym.vector.utils.batch_space(single, int(num_envs)), single
    )


def _stack_last(frames: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frames.transpose(0, 2, 3, 1))


def _ale_vector(num_envs: int, config: dict[str, Any], **preprocessing: Any) -> Any:
    """ALE's C++ vector env of Pong, frameskip 4, no sticky actions; ``num_threads`` from
    ``config``, by default one per CPU this process may use, at most one per env."""
    from ale_py.vector_env import AtariVectorEnv

    config = dict(config)
    threads = config.pop("num_threads", None)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return AtariVectorEnv(
        "pong",
        num_envs,
        num_threads=int(threads or min(num_envs, cpus or 1)),
        frameskip=FRAMESKIP,
        use_fire_reset=False,  # Pong serves by itself
        repeat_action_probability=0.0,
        **preprocessing,
        **config,
    )


def reset_with_noops(env: gym.Env, noop_max: int, **kwargs: Any) -> tuple[Any, dict]:
    """``env.reset``, then up to ``noop_max`` random no-ops (drawn from the env's generator),
    so that episodes start apart; the last observation and info."""
    observation, info = env.reset(**kwargs)
    for _ in range(env.np_random.integers(0, noop_max + 1) if noop_max else 0):
        observation, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            observation, info = env.reset()
    return observation, info


class StackedGreyFrames(gym.Wrapper):
    """One ALE env (frameskip 1) observed as ALE's vector env observes it: each step repeats
    the action ``FRAMESKIP`` times, takes the pixel-wise max of the last two grey screens,
    shrinks it to ``dim``×``dim`` (area interpolation) and stacks the last ``stack`` such
    frames on the last axis, zeros before the first; uint8, (dim, dim, stack). Up to
    ``noop_max`` random no-ops start an episode. ``render()`` still shows the game."""

    def __init__(
        self, env: gym.Env, dim: int = DIM, stack: int = STACK, noop_max: int = NOOP_MAX
    ) -> None:
        super().__init__(env)
        self.dim, self.noop_max = dim, noop_max
        self.observation_space = gym.spaces.Box(0, 255, (dim, dim, stack), np.uint8)
        self._frames = np.zeros((dim, dim, stack), np.uint8)

    def _grey(self) -> np.ndarray:
        return self.env.unwrapped.ale.getScreenGrayscale()

    def _push(self, screen: np.ndarray) -> np.ndarray:
        import cv2

        self._frames = np.roll(self._frames, -1, axis=-1)
        self._frames[..., -1] = cv2.resize(
            screen, (self.dim, self.dim), interpolation=cv2.INTER_AREA
        )
        return self._frames.copy()

    def reset(self, **kwargs: Any):
        _, info = reset_with_noops(self.env, self.noop_max, **kwargs)
        self._frames[:] = 0
        return self._push(self._grey()), info

    def step(self, action: int):
        total, screens = 0.0, []
        for repeat in range(FRAMESKIP):
            _, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if repeat >= FRAMESKIP - 2:
                screens.append(self._grey())
            if terminated or truncated:
                break
        screen = np.maximum(screens[0], screens[-1]) if screens else self._grey()
        return self._push(screen), float(np.sign(total)), terminated, truncated, info


def frame_stacking_connectors(num_frames: int = 4) -> dict[str, Any]:
    """``env_to_module_connector`` and ``learner_connector`` that stack the last frames."""
    from ray.rllib.connectors.env_to_module.frame_stacking import FrameStackingEnvToModule
    from ray.rllib.connectors.learner.frame_stacking import FrameStackingLearner

    return {
        "env_to_module_connector": lambda env, spaces=None, device=None: FrameStackingEnvToModule(
            num_frames=num_frames
        ),
        "learner_connector": lambda obs_space, act_space: FrameStackingLearner(
            num_frames=num_frames
        ),
    }


def karpathy_frame(frame: np.ndarray) -> np.ndarray:
    """The Pong-from-pixels tutorial's preprocessing of one 210×160×3 frame: crop rows
    35:195, keep every 2nd pixel of the red channel, erase the background (144, 109),
    set everything else (paddles, ball) to 1. Returns 80×80 float32."""
    red = frame[35:195:2, ::2, 0]
    return ((red != 0) & (red != 144) & (red != 109)).astype(np.float32)


def karpathy_frames_from_grey(screens: np.ndarray) -> np.ndarray:
    """``karpathy_frame`` of each of (N, 210, 160) grey screens at once, (N, 80, 80) int8:
    inside the crop only the two backgrounds are grey 87 and 107 (red 144 and 109) and only
    black is 0 (red 0), so it binarises the same (tested), from a third of the bytes."""
    crop = screens[:, 35:195:2, ::2]
    return ((crop != 0) & (crop != BACKGROUND_GREYS[0]) & (crop != BACKGROUND_GREYS[1])).astype(
        np.int8
    )


# The difference frames' values, -1, 0 and 1, as int8: a quarter of float32's bytes in every
# episode an env runner keeps until it ends (the policy takes them as floats, algorithms/pg.py).
PIXELS_SPACE = gym.spaces.Box(-1, 1, (80 * 80,), np.int8)


class PongPixels(gym.Wrapper):
    """Pong as the tutorial's agent saw it: the difference of consecutive preprocessed
    frames (6400 values in {-1, 0, 1}; zeros after a reset) and two actions, UP and DOWN."""

    def __init__(self, env: gym.Env, noop_max: int = 0) -> None:
        super().__init__(env)
        self.observation_space = PIXELS_SPACE
        self.action_space = gym.spaces.Discrete(2)
        self.noop_max = noop_max
        self._previous: np.ndarray | None = None

    def reset(self, **kwargs: Any):
        frame, info = reset_with_noops(self.env, self.noop_max, **kwargs)
        self._previous = karpathy_frame(frame).astype(np.int8)
        return np.zeros(80 * 80, np.int8), info

    def step(self, action: int):
        frame, reward, terminated, truncated, info = self.env.step((UP, DOWN)[int(action)])
        current = karpathy_frame(frame).astype(np.int8)
        difference = (current - self._previous).ravel()
        self._previous = current
        return difference, reward, terminated, truncated, info


class PongPixelsVector(gym.vector.VectorWrapper):
    """``PongPixels`` for ALE's vector env of full grey frames: the same observations, the
    tutorial's preprocessing done for all envs at once in NumPy. ALE resets an env in the
    step after its episode ended; that step's observation is zeros, as after ``reset``."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.single_observation_space = PIXELS_SPACE
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._previous = np.zeros((self.num_envs, 80, 80), np.int8)
        self._ended = np.zeros(self.num_envs, bool)

    def reset(self, **kwargs: Any):
        frames, info = self.env.reset(**kwargs)
        self._previous = karpathy_frames_from_grey(frames[:, -1])
        self._ended[:] = False
        return np.zeros((self.num_envs, 80 * 80), np.int8), info

    def step(self, actions: np.ndarray):
        ale_actions = np.where(np.asarray(actions) == 0, UP, DOWN).astype(np.int32)
        frames, rewards, terminated, truncated, info = self.env.step(ale_actions)
        current = karpathy_frames_from_grey(frames[:, -1])
        difference = (current - self._previous).reshape(self.num_envs, 80 * 80)
        difference[self._ended] = 0  # reset by this step: a new episode's first observation
        self._previous = current
        self._ended = terminated | truncated
        return difference, rewards, terminated, truncated, info


def make_pong_pixels(
    env_config: dict[str, Any] | None = None,
) -> gym.Env | gym.vector.VectorEnv:
    """Pong for the policy-gradient tutorial's setup (frameskip 4, no sticky actions): ALE's
    vector env of ``num_envs`` full grey frames when RLlib passes that key
    (``gym_env_vectorize_mode="vector_entry_point"``), else one env that renders.
    ``noop_max`` (0, as in the tutorial): random no-ops that start an episode."""
    config = dict(env_config or {})
    num_envs = config.pop("num_envs", None)
    noop_max = int(config.pop("noop_max", 0))
    if num_envs is None:
        return UpscaledRender(PongPixels(_ale(FRAMESKIP, config), noop_max=noop_max))
    return PongPixelsVector(
        _ale_vector(int(num_envs), config, img_height=210, img_width=160, grayscale=True,
                    stack_num=1, maxpool=False, noop_max=noop_max, reward_clipping=False)
    )  # fmt: skip
