"""A frame of an env's true picture (what ``render()`` returns), for the encoder."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

# Envs drawn with pygame (gymnasium's classic control) whose frame we read straight from the
# pygame surface: unwrapped env -> whether that reads the same frame as render() does.
_SURFACE_READS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _surface_frame(env: Any) -> np.ndarray:
    """Draw a pygame-rendered env and return its surface's pixels as they lie in memory:
    (H, W, 4), bytes B, G, R and one unused (pygame's 32-bit layout on little-endian).

    gymnasium's classic-control envs end ``render()`` with a numpy copy of the transposed
    surface that costs most of a CartPole frame; with a render mode that is neither "human"
    nor "rgb_array" they only draw, and the surface's buffer is read without a copy
    (benchmarks/RESULTS.md, "Video"). The encoder converts this layout as cheaply as RGB.
    """
    mode = env.render_mode
    env.render_mode = "draw-only"
    try:
        env.render()
    finally:
        env.render_mode = mode
    width, height = env.screen.get_size()
    return np.frombuffer(env.screen.get_buffer().raw, np.uint8).reshape(height, width, 4)


def _render(env: Any) -> tuple[np.ndarray | None, str]:
    """``env.render()`` (layout "rgb"), or where it reads the same picture, the surface's
    pixels (layout "bgrx", see _surface_frame)."""
    base = env.unwrapped
    try:
        fast = _SURFACE_READS.get(base)
    except TypeError:  # an env that cannot be weakly referenced
        return env.render(), "rgb"
    if fast:
        return _surface_frame(base), "bgrx"
    frame = env.render()
    if fast is None:  # first frame of this env: use the surface only if it reads the same
        fast = False
        if frame is not None and getattr(base, "render_mode", None) == "rgb_array":
            if "pygame" in type(getattr(base, "screen", None)).__module__:
                try:
                    fast = bool(np.array_equal(as_rgb(_surface_frame(base), "bgrx"), frame))
                except Exception:  # another pixel format or row padding: reshape fails
                    fast = False
        _SURFACE_READS[base] = fast
    return frame, "rgb"


def video_frame(env: Any, env_index: int) -> tuple[np.ndarray, str]:
    """Sub-env ``env_index``'s frame of RLlib's (vectorised) env, as ``Mp4Stream.add``
    takes it: (pixels, layout), layout "rgb" or "bgrx"."""
    sub_envs = getattr(env, "envs", None)
    layout = "rgb"
    if sub_envs is not None:  # gymnasium SyncVectorEnv
        frame, layout = _render(sub_envs[env_index])
    elif hasattr(env, "call"):  # AsyncVectorEnv: each sub-env renders in its own process
        frame = env.call("render")[env_index]
    else:
        frame = env.render()
    if frame is None or np.ndim(frame) != 3:
        raise RuntimeError(
            "render() returned no RGB frame; build the env with render_mode='rgb_array'"
        )
    return np.asarray(frame), layout


def as_rgb(pixels: np.ndarray, layout: str) -> np.ndarray:
    """A frame from ``video_frame`` as (H, W, 3) RGB (a view, no copy)."""
    return pixels[..., 2::-1] if layout == "bgrx" else pixels
