"""The stop rule's metric: the mean return of the last 100 training episodes.

RLlib 2.60's ``env_runners/episode_return_mean`` averages only the episodes that ended in
the current iteration, so one lucky episode can "solve" CartPole. Stable-Baselines3 and
the CartPole definition of solved use a rolling window of 100 episodes; so do we.

Before 100 episodes have ended, ``return_last100`` is the mean of those there are
(``episodes_in_window`` says how many), and it cannot count as solved (``solved``). The
window travels in every checkpoint (in the algorithm's metrics, which RLlib saves), so a
restored trial (``--resume``, a ``--max-failures`` retry) starts with the last 100 episodes
before that checkpoint, not with an empty window.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

RETURN_METRIC = "return_last100"
EPISODES_METRIC = "episodes_in_window"
WINDOW = 100
_EPISODE_RETURNS = "episode_returns"
EVALUATION_EPISODE_RETURNS = "greedy_episode_returns"  # per evaluation episode, until read
_SAVED_WINDOW = "return_window"  # in the algorithm's metrics, so its checkpoints carry it


def solved(result: dict, goal: float) -> bool:
    """Whether ``result`` meets the goal: a full window of 100 episodes whose mean return
    reaches it."""
    value = result.get(RETURN_METRIC, math.nan)
    return result.get(EPISODES_METRIC, 0) >= WINDOW and not math.isnan(value) and value >= goal


def whole_return(episode: Any, prev_episode_chunks: list | None) -> float:
    """An ended episode's return, over the chunks of it the env runner returned before."""
    return float(sum(chunk.get_return() for chunk in [episode, *(prev_episode_chunks or [])]))


class EpisodeReturnWindow(RLlibCallback):
    """Adds ``return_last100`` (and ``episodes_in_window``) to every training result, and logs
    each evaluation episode's return for ``GreedyReturns``."""

    def __init__(self) -> None:
        super().__init__()
        self._returns: deque[float] = deque(maxlen=WINDOW)

    def on_episode_end(
        self,
        *,
        episode,
        prev_episode_chunks=None,
        env_runner=None,
        metrics_logger=None,
        **kwargs: Any,
    ) -> None:
        # Evaluation episodes go under evaluation/, to the round's figure (greedy_returns.py),
        # not into the window.
        evaluating = env_runner is not None and env_runner.config.in_evaluation
        metrics_logger.log_value(
            EVALUATION_EPISODE_RETURNS if evaluating else _EPISODE_RETURNS,
            whole_return(episode, prev_episode_chunks),
            reduce="item_series",
        )

    def on_train_result(self, *, algorithm, result: dict, **kwargs: Any) -> None:
        # The per-episode list is consumed here so it never reaches result.json.
        returns = result.get(ENV_RUNNER_RESULTS, {}).pop(_EPISODE_RETURNS, [])
        if isinstance(returns, list):
            self._returns.extend(returns)
        window = self._returns
        result[RETURN_METRIC] = sum(window) / len(window) if window else math.nan
        result[EPISODES_METRIC] = len(window)
        # Kept as the metrics' latest item: saved with the next checkpoint, and reported
        # back in the next result, where it is dropped.
        result.pop(_SAVED_WINDOW, None)
        algorithm.metrics.log_value(_SAVED_WINDOW, list(window), reduce="item")

    def on_checkpoint_loaded(self, *, algorithm, **kwargs: Any) -> None:
        saved = algorithm.metrics.peek(_SAVED_WINDOW, default=None)
        if isinstance(saved, list):
            self._returns = deque(saved, maxlen=WINDOW)
