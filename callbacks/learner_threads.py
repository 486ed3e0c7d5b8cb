"""Torch threads for a learner that runs in the trial's own process."""

from __future__ import annotations

import os
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback


def bundle_cpus(config: Any) -> int:
    """CPUs of a trial's main process plus its remote env runners (Tune reserves them all)."""
    runners = config.num_env_runners * config.num_cpus_per_env_runner
    return max(1, round(config.num_cpus_for_main_process + runners))


class LearnerThreads(RLlibCallback):
    """Lets a local learner's torch use the trial's env-runner CPUs while it learns.

    PPO and PG are synchronous: env runners wait while the learner updates. Ray sets
    OMP_NUM_THREADS to an actor's CPUs, so the trial's process (1 CPU) would learn on one
    thread while the runners' cores sit idle. This sets torch's threads to every CPU the trial
    holds (``bundle_cpus``), capped at the node's cores; learners on their own actors
    (``--learners N``) are left alone.

    Where the trial's process also samples (no remote env runners) or evaluates, torch takes
    one thread there: a policy's forward pass on a few observations gains nothing from more,
    and torch's threads waiting for work took the cores from the env's own threads (ALE's
    vector env steps on threads; benchmarks/RESULTS.md, "Pong PPO").
    """

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.threads = max(1, min(threads, os.cpu_count() or 1))

    def on_algorithm_init(self, *, algorithm: Any, **kwargs: Any) -> None:
        self._between_iterations(algorithm.config)

    def on_sample_end(self, *, env_runner: Any = None, **kwargs: Any) -> None:
        if env_runner is None or env_runner.worker_index != 0:
            return  # a remote env runner keeps the threads Ray gave it
        config = env_runner.config
        if config.num_learners == 0 and not config.in_evaluation:
            self._set(self.threads)  # the trial's own env runner has sampled: learning is next

    def on_evaluate_start(self, *, algorithm: Any, **kwargs: Any) -> None:
        if algorithm.config.num_learners == 0 and algorithm.config.evaluation_num_env_runners == 0:
            self._set(1)

    def on_train_result(self, *, algorithm: Any, **kwargs: Any) -> None:
        self._between_iterations(algorithm.config)

    def _between_iterations(self, config: Any) -> None:
        """An iteration starts by sampling here (no remote env runners) or by learning."""
        if config.num_learners == 0:
            self._set(1 if config.num_env_runners == 0 else self.threads)

    @staticmethod
    def _set(threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
