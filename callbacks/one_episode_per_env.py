"""A greedy evaluation round of K episodes on K envs plays exactly one episode on each env.

RLlib ends a round after K *finished* episodes, and an env that finishes starts its next
episode at once. Without this callback, when one env's episode runs long the short ones
finish a second time first: the round's returns lean towards short episodes, and the long
one (which may be the one being recorded) never finishes. Here an evaluation env that has
finished its episode is parked until the round ends: it repeats its last observation, with
no reward, and never ends, so the round ends when every env's one episode has.

Only for gymnasium's SyncVectorEnv (every evaluation env of this suite); any other vector
env keeps RLlib's behaviour, as does a round that asks one runner for more episodes than it
has envs (every env then plays on once all have finished one).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback


class _Parked:
    """Stands in for a sub-env that has played its episode of the round."""

    def __init__(self, env: Any, observation: Any) -> None:
        self.env = env  # the real env, put back when the round ends
        self.observation = observation

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        return self.observation, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation, 0.0, False, False, {}

    def __getattr__(self, name: str) -> Any:  # close(), render(), spaces: the real env's
        return getattr(self.env, name)


class OneEpisodePerEnv(RLlibCallback):
    def on_episode_end(self, *, episode, env_runner=None, env=None, env_index: int = 0, **kwargs):
        sub_envs = _sub_envs(env_runner, env)
        if sub_envs is None or isinstance(sub_envs[env_index], _Parked):
            return
        sub_envs[env_index] = _Parked(sub_envs[env_index], episode.get_observations(-1))
        if all(isinstance(sub_env, _Parked) for sub_env in sub_envs):
            # The round still wants episodes (more than its envs): let every env play on.
            _unpark(sub_envs)

    def on_sample_end(self, *, env_runner=None, **kwargs: Any) -> None:
        sub_envs = _sub_envs(env_runner, getattr(env_runner, "env", None))
        if sub_envs is not None:
            _unpark(sub_envs)  # the next round resets every env


def _unpark(sub_envs: list) -> None:
    for index, sub_env in enumerate(sub_envs):
        if isinstance(sub_env, _Parked):
            sub_envs[index] = sub_env.env


def _sub_envs(env_runner: Any, env: Any) -> list | None:
    """The evaluation runner's list of sub-envs, which this callback may swap; else None."""
    if not (env_runner and env_runner.config.in_evaluation) or env is None:
        return None
    sub_envs = getattr(env.unwrapped, "envs", None)
    return sub_envs if isinstance(sub_envs, list) else None
