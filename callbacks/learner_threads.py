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
    """

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.threads = threads

    def on_algorithm_init(self, *, algorithm: Any, **kwargs: Any) -> None:
        if algorithm.config.num_learners == 0:
            import torch

            torch.set_num_threads(max(1, min(self.threads, os.cpu_count() or 1)))
