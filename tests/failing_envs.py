"""Envs that fail on purpose; importing this module registers them with gymnasium.

Use them as ``--env failing_envs:FailsOnReset-v0`` so every Ray worker imports this module.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

FAIL_AFTER_STEPS = 2500  # per process: a trial gets through about two iterations first


class FailsOnResetCartPole(CartPoleEnv):
    """CartPole that cannot even start: the trial fails before its first iteration."""

    def reset(self, **kwargs):
        raise RuntimeError("this env fails on reset, on purpose")


class FailsOnSecondStepCartPole(CartPoleEnv):
    """CartPole that takes one step (enough for the runner's pre-flight check), then fails:
    the trial fails in its first iteration."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = 0

    def step(self, action):
        self.steps += 1
        if self.steps > 1:
            raise RuntimeError("this env fails on its second step, on purpose")
        return super().step(action)


class FailsLaterCartPole(CartPoleEnv):
    """CartPole that fails after FAIL_AFTER_STEPS steps in its process."""

    steps = 0

    def step(self, action):
        FailsLaterCartPole.steps += 1
        if FailsLaterCartPole.steps > FAIL_AFTER_STEPS:
            raise RuntimeError("this env fails mid-training, on purpose")
        return super().step(action)


for _id, _cls in (
    ("FailsOnReset-v0", FailsOnResetCartPole),
    ("FailsOnSecondStep-v0", FailsOnSecondStepCartPole),
    ("FailsLater-v0", FailsLaterCartPole),
):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls, max_episode_steps=500)
