"""One more evaluation round in the iteration that meets a stop rule.

Tune stops a trial after the result that meets its stop rule; RLlib evaluates only every
``evaluation_interval`` iterations. So the last iteration gets its own evaluation round
(and video), and the final checkpoint carries an evaluation return.
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


class FinalEvaluation(RLlibCallback):
    """Evaluate once more when a result reaches any of ``stop`` (Tune's stop dict)."""

    def __init__(self, stop: dict[str, float]) -> None:
        super().__init__()
        self.stop = dict(stop)

    def on_train_result(self, *, algorithm, result: dict, **kwargs: Any) -> None:
        interval = algorithm.config.evaluation_interval
        if not interval or evaluated_this_iteration(result, interval):
            return
        if not any(_reached(result.get(key), goal) for key, goal in self.stop.items()):
            return
        result[EVALUATION_RESULTS] = dict(algorithm.evaluate())
        # evaluate() leaves its per-episode items in the algorithm's metrics until the next
        # iteration, which never comes: drop them so the final checkpoint stays small.
        for key in list(result[EVALUATION_RESULTS].get(ENV_RUNNER_RESULTS, {})):
            if key.startswith("video_"):
                algorithm.metrics.delete(
                    EVALUATION_RESULTS, ENV_RUNNER_RESULTS, key, key_error=False
                )


def evaluated_this_iteration(result: dict, interval: int) -> bool:
    """Whether ``result`` holds a fresh evaluation round.

    RLlib evaluates in iteration i when i is a multiple of ``evaluation_interval``. It
    carries an ``evaluation`` entry in every result: NaN statistics in iterations without a
    round, except the one right after a round, which repeats that round's figures.
    """
    if result.get("training_iteration", 0) % interval:
        return False
    runners = (result.get(EVALUATION_RESULTS) or {}).get(ENV_RUNNER_RESULTS) or {}
    value = runners.get(EPISODE_RETURN_MEAN)
    return isinstance(value, (int, float)) and not math.isnan(value)


def _reached(value: Any, goal: float) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value) and value >= goal
