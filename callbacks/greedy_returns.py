"""The greedy evaluation's figure: the mean return of the round's K episodes, with its
standard error and K itself, in every result that has an evaluation round.

RLlib reports ``evaluation/env_runners/episode_return_mean`` (and min, max) but no spread
and no count, so one lucky episode and ten steady ones read the same. Each evaluation
episode's return is logged as it ends (by ``EpisodeReturnWindow``, which every run has);
when the round ends, the list becomes the mean, its standard error and the number of
episodes, and is dropped from the results.
"""

from __future__ import annotations

import math
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_RETURN_MEAN,
    EVALUATION_RESULTS,
)

from callbacks.episode_returns import EVALUATION_EPISODE_RETURNS as _RETURNS

SE = "episode_return_se"
EPISODES = "episodes_in_round"
# The flattened names in result.json and progress.csv.
GREEDY_RETURN = f"{EVALUATION_RESULTS}/{ENV_RUNNER_RESULTS}/{EPISODE_RETURN_MEAN}"
GREEDY_SE = f"{EVALUATION_RESULTS}/{ENV_RUNNER_RESULTS}/{SE}"
GREEDY_EPISODES = f"{EVALUATION_RESULTS}/{ENV_RUNNER_RESULTS}/{EPISODES}"


def mean_and_se(returns: list[float]) -> tuple[float, float]:
    n = len(returns)
    mean = sum(returns) / n
    if n < 2:
        return mean, 0.0
    variance = sum((r - mean) ** 2 for r in returns) / (n - 1)
    return mean, math.sqrt(variance / n)


def greedy_line(runners: dict, fresh: bool = False) -> str | None:
    """``-3.2 ± 1.1 (10 episodes)`` for an evaluation round's results, or None; ``fresh``:
    only for a round this result ran (RLlib repeats a round's mean in later results)."""
    mean = runners.get(EPISODE_RETURN_MEAN)
    if not isinstance(mean, (int, float)) or math.isnan(mean):
        return None
    if fresh and EPISODES not in runners:
        return None
    if EPISODES not in runners:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {runners.get(SE, 0.0):.1f} ({runners[EPISODES]} episodes)"


class GreedyReturns(RLlibCallback):
    """Adds each evaluation round's mean return over its episodes, SE and count."""

    def on_evaluate_end(self, *, algorithm, evaluation_metrics: dict, **kwargs: Any) -> None:
        runners = evaluation_metrics.get(ENV_RUNNER_RESULTS)
        if not isinstance(runners, dict):
            return
        returns = runners.pop(_RETURNS, None)
        algorithm.metrics.delete(EVALUATION_RESULTS, ENV_RUNNER_RESULTS, _RETURNS, key_error=False)
        if isinstance(returns, list) and returns:
            mean, se = mean_and_se([float(r) for r in returns])
            runners.update({EPISODE_RETURN_MEAN: mean, SE: se, EPISODES: len(returns)})

    def on_train_result(self, *, result: dict, **kwargs: Any) -> None:
        # A list left in the metrics by a round that ended with the iteration: not a figure.
        runners = (result.get(EVALUATION_RESULTS) or {}).get(ENV_RUNNER_RESULTS)
        if isinstance(runners, dict):
            runners.pop(_RETURNS, None)
