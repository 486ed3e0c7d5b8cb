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
    """Evaluate once more when a result meets ``stop`` (the trial's ``StopRule``)."""

    def __init__(self, stop: Any) -> None:
        super().__init__()
        self.stop = stop

    def on_train_result(self, *, algorithm, result: dict, **kwargs: Any) -> None:
        interval = algorithm.config.evaluation_interval
        iteration = result.get("training_iteration", 0)
        if not interval or ran_evaluation(iteration, evaluation_return(result), interval):
            return
        if not self.stop.reached(result):
            return
        result[EVALUATION_RESULTS] = dict(algorithm.evaluate())
        # evaluate() leaves its per-episode items in the algorithm's metrics until the next
        # iteration, which never comes: drop them so the final checkpoint stays small.
        for key in list(result[EVALUATION_RESULTS].get(ENV_RUNNER_RESULTS, {})):
            if key.startswith("video_"):
                algorithm.metrics.delete(
                    EVALUATION_RESULTS, ENV_RUNNER_RESULTS, key, key_error=False
                )


def ran_evaluation(
    iteration: int, eval_return: Any, interval: int | None, last_iteration: int | None = None
) -> bool:
    """Whether ``iteration`` ran an evaluation round; ``eval_return`` is its result's
    ``evaluation/env_runners/episode_return_mean``.

    RLlib evaluates in iteration i when i is a multiple of ``evaluation_interval``, and
    ``FinalEvaluation`` in the ``last_iteration``. RLlib carries evaluation statistics in
    every result: NaN in iterations without a round, except the one right after a round,
    which repeats that round's figures; so the statistics alone do not tell.
    """
    if not isinstance(eval_return, (int, float)) or math.isnan(eval_return):
        return False
    return not interval or iteration % interval == 0 or iteration == last_iteration


def evaluation_return(result: dict) -> Any:
    """A (nested) result's greedy evaluation return: NaN or missing where none was reported."""
    runners = (result.get(EVALUATION_RESULTS) or {}).get(ENV_RUNNER_RESULTS) or {}
    return runners.get(EPISODE_RETURN_MEAN)
