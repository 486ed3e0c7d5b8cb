"""Tiny envs for the video tests; importing this module registers them with gymnasium.

Use them as ``--env display_envs:NeedsDisplay-v0`` (gymnasium's "module:id" form), so every
Ray worker imports this module and finds them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


def x_display_reachable() -> bool:
    """Whether an X server answers on $DISPLAY (libX11's XOpenDisplay, as real GUIs do)."""
    if not os.environ.get("DISPLAY"):
        return False
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    handle = x11.XOpenDisplay(None)
    if handle:
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        x11.XCloseDisplay(handle)
    return bool(handle)


class NeedsDisplayCartPole(CartPoleEnv):
    """CartPole that, like an OpenGL env, cannot render without a reachable X display (and,
    like one, keeps the display it has opened)."""

    display_open = False

    def render(self):
        if not self.display_open and not x_display_reachable():
            raise RuntimeError("cannot open display: no X server reachable (DISPLAY unset)")
        self.display_open = True
        return super().render()


class BrokenRenderCartPole(CartPoleEnv):
    """CartPole whose renderer always fails."""

    def render(self):
        raise RuntimeError("renderer exploded")


for _id, _cls in (
    ("NeedsDisplay-v0", NeedsDisplayCartPole),
    ("BrokenRender-v0", BrokenRenderCartPole),
):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls, max_episode_steps=500)
