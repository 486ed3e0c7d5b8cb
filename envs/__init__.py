"""Environments by name, each built with ``render_mode="rgb_array"``.

Every creator returns an env whose ``render()`` gives the true game frame, whatever
the agent observes, so evaluation videos show the game and not the preprocessed input.
Any gymnasium id works; the ids in ``SUITE_ENVS`` are the ones our experiments use.
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import Any

import gymnasium as gym

# Our own named envs (creator functions); any gymnasium id works besides these.
_CREATORS: dict[str, str] = {
    "pong": "envs.pong:make_pong",
    "pong-vector": "envs.pong:make_pong_vector",
    "pong-pixels": "envs.pong:make_pong_pixels",
}
SUITE_ENVS: tuple[str, ...] = ("CartPole-v1", *_CREATORS)

# pygame (CartPole's renderer) opens a sound device, and probes X11/Wayland for a window
# that rgb_array rendering never uses: headless machines have neither, and SDL logs errors.
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def _register_ale() -> None:
    try:  # ALE ids (ALE/Pong-v5, ...) exist only once ale_py registered them.
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:
        pass


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError`` with close matches when ``env_id`` names no known env."""
    if env_id in _CREATORS:
        return
    module, sep, _ = env_id.partition(":")
    if sep:  # gymnasium's "module:Env-v0" form: importing the module registers the env
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"cannot import {module!r} for env id {env_id!r}: {err}") from None
        env_id = env_id.split(":", 1)[1]
    _register_ale()
    known = list(dict.fromkeys([*SUITE_ENVS, *gym.registry]))
    if env_id in known:
        return
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; try CartPole-v1"
    raise ValueError(f"unknown env id {env_id!r}{hint}")


def make_env(env_id: str, env_config: dict[str, Any] | None = None) -> gym.Env:
    """Build ``env_id`` so that ``render()`` returns RGB frames."""
    if env_id in _CREATORS:
        module, _, function = _CREATORS[env_id].partition(":")
        return getattr(importlib.import_module(module), function)(dict(env_config or {}))
    _register_ale()
    kwargs = dict(env_config or {})
    kwargs.setdefault("render_mode", "rgb_array")
    return gym.make(env_id, **kwargs)


def register_env(env_id: str) -> str:
    """Register ``env_id`` with Tune (so every Ray worker can build it) and return the name."""
    from ray.tune.registry import register_env as tune_register_env

    check_env_id(env_id)
    tune_register_env(env_id, lambda env_config: make_env(env_id, dict(env_config)))
    return env_id


def try_env(env_id: str, env_config: dict[str, Any] | None = None) -> None:
    """Build ``env_id``, reset it and take one random step, here and now.

    Raises ``RuntimeError`` with the real cause in one line. Inside a remote env runner the
    same failure (a missing opencv for the Atari wrappers, an env that cannot reset) would
    only show up as env runners restarting over and over.
    """
    stage = "build"
    try:
        env = make_env(env_id, env_config)
        try:
            stage = "reset"
            env.reset(seed=0)
            stage = "step"
            env.step(env.action_space.sample())
        finally:
            env.close()
    except Exception as err:
        lines = str(err).strip().splitlines()
        detail = f"{type(err).__name__}: {lines[0] if lines else ''}"
        raise RuntimeError(f"env {env_id!r} fails to {stage}: {detail}") from err


def describe_env(env_id: str) -> dict[str, Any]:
    """The facts the tutorial's ``query_environment`` printed, for any gymnasium id."""
    check_env_id(env_id)
    env = make_env(env_id)
    try:
        spec = env.spec
        return {
            "env id": env_id,
            "action space": env.action_space,
            "observation space": env.observation_space,
            "max episode steps": spec.max_episode_steps if spec else None,
            "nondeterministic": spec.nondeterministic if spec else None,
            # gymnasium 1.x dropped Env.reward_range; (-inf, inf) was its default.
            "reward range": getattr(env.unwrapped, "reward_range", (float("-inf"), float("inf"))),
            "reward threshold": spec.reward_threshold if spec else None,
            "render fps": env.metadata.get("render_fps"),
        }
    finally:
        env.close()
