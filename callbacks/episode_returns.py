"""The stop rule's metric: the mean return of the last 100 training episodes.

RLlib 2.60's ``env_runners/episode_return_mean`` averages only the episodes that ended in
the current iteration, so one lucky episode can "solve" CartPole. Stable-Baselines3 and
the CartPole definition of solved use a rolling window of 100 episodes; so do we.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

RETURN_METRIC = "return_last100"
WINDOW = 100
_EPISODE_RETURNS = "episode_returns"


class EpisodeReturnWindow(RLlibCallback):
    """Adds ``return_last100`` (and ``episodes_in_window``) to every training result."""

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
        if env_runner is not None and env_runner.config.in_evaluation:
            return  # evaluation episodes are reported under evaluation/, not in the window
        chunks = [episode, *(prev_episode_chunks or [])]
        episode_return = float(sum(chunk.get_return() for chunk in chunks))
        metrics_logger.log_value(_EPISODE_RETURNS, episode_return, reduce="item_series")

    def on_train_result(self, *, algorithm, result: dict, **kwargs: Any) -> None:
        # The per-episode list is consumed here so it never reaches result.json.
        returns = result.get(ENV_RUNNER_RESULTS, {}).pop(_EPISODE_RETURNS, [])
        if isinstance(returns, list):
            self._returns.extend(returns)
        window = self._returns
        result[RETURN_METRIC] = sum(window) / len(window) if window else math.nan
        result["episodes_in_window"] = len(window)
