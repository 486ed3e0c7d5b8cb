"""What every Ray worker of a run does first: quiet RLlib's routine logs, keep torch to the
CPUs Ray gives each actor, import what it needs.

Light on purpose (logging, and Ray's own modules): a local Ray's workers import this module
as they start, before they take work (Ray's ``preload_python_modules``, see
experiments/connect.py), and a cluster's workers run ``prepare`` as their
``worker_process_setup_hook``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

# Comma-separated modules that ``prepare`` imports (a cluster's workers get it from the job).
PREIMPORT = "RAYRL_PREIMPORT_MODULE"


class _DropRoutineLogs(logging.Filter):
    ROUTINE = (
        "You are running ",  # "... PPO on the new API stack!": the default, nothing to do
        "Checkpoint successfully created at",
        "DeprecationWarning: `RLModule(config=",  # raised inside RLlib itself
    )
    if not os.path.exists("/dev/nvidia0"):  # (where there is a GPU to monitor, the hint stays)
        ROUTINE += ("Install gputil for GPU system monitoring.",)  # Tune, once per trial

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.ROUTINE)


def quiet_routine_logs() -> None:
    """Drop the RLlib/Tune info lines printed on every trial start and every checkpoint."""
    for name in (
        "ray.rllib.algorithms.algorithm_config",
        "ray.rllib.core.rl_module.rl_module",
        "ray.train._internal.storage",
        "ray._common.deprecation",  # RLlib's own RLModuleConfig warns on every trial start
        "ray.tune.utils.util",
    ):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropRoutineLogs) for f in log.filters):
            log.addFilter(_DropRoutineLogs())


def torch_threads_follow_ray() -> None:
    """Give torch in every actor the CPUs Ray assigned it, as Ray means to.

    Ray sets OMP_NUM_THREADS to an actor's CPUs as the actor starts, for libraries that read
    it when imported. Our workers import torch before that (the preload, see
    experiments/connect.py), so torch had taken a thread per core in every actor: on a
    16-core machine, 8 env runners of 1 CPU each ran on ~2.5 cores each and returned no
    sample in 60 s (benchmarks/RESULTS.md). This applies Ray's value to torch as Ray sets it.
    Ray's private API: where it is missing, nothing changes.
    """
    from ray._private import utils

    original = getattr(utils, "set_omp_num_threads_if_unset", None)
    if original is None or getattr(original, "torch_follows", False):
        return

    def set_omp_num_threads_if_unset() -> bool:
        was_set = original()
        if was_set and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        return was_set

    set_omp_num_threads_if_unset.torch_follows = True  # type: ignore[attr-defined]
    utils.set_omp_num_threads_if_unset = set_omp_num_threads_if_unset


def prepare() -> None:
    """Ray's ``worker_process_setup_hook`` on a cluster: import the modules the run named."""
    for module in filter(None, os.environ.get(PREIMPORT, "").split(",")):
        importlib.import_module(module)


quiet_routine_logs()
torch_threads_follow_ray()
