"""What every Ray worker of a run does first: quiet RLlib's routine logs, keep torch to the
CPUs Ray gives each actor, import what it needs.

Light on purpose (logging, and Ray's own modules): a local Ray's workers import this module
as they start, before they take work (Ray's ``preload_python_modules``, see
runner/connect.py), and a cluster's workers run ``prepare`` as their
``worker_process_setup_hook``.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings

from suite import patches

# Comma-separated modules that ``prepare`` imports (a cluster's workers get it from the job).
PREIMPORT = "RAYRL_PREIMPORT_MODULE"


class _DropRoutineLogs(logging.Filter):
    ROUTINE = (
        "You are running ",  # "... PPO on the new API stack!": the default, nothing to do
        "Checkpoint successfully created at",
        "DeprecationWarning: `RLModule(config=",  # raised inside RLlib itself
        "Token authentication is enabled for this Ray cluster.",  # a Ray of ours, as meant
        # A trial's traceback: our progress line prints its root cause, error.txt the whole.
        "Trial task failed for trial",
        "Trials did not complete:",
        # Advice for many short trials (reuse_actors); a Pong trial's envs take ~15 s to build.
        "Trainable.setup took ",
    )
    if not os.path.exists("/dev/nvidia0"):  # (where there is a GPU to monitor, the hint stays)
        ROUTINE += ("Install gputil for GPU system monitoring.",)  # Tune, once per trial

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.ROUTINE)


class _TracebackToOneLine(logging.Filter):
    """Tune's error logs with a traceback, as one line ending in the exception itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage().rstrip(': ')}: {type(error).__name__}: {error}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def quiet_routine_logs() -> None:
    """Drop the RLlib/Tune info lines printed on every trial start and every checkpoint."""
    # RLlib registers its env under this one name each time it builds an env runner.
    warnings.filterwarnings(
        "ignore", message=r".*Overriding environment rllib-single-agent-env-v0 already"
    )
    for name in (
        "ray._private.authentication.authentication_token_setup",  # on: docs/faults.md, Security
        "ray.rllib.algorithms.algorithm_config",
        "ray.rllib.core.rl_module.rl_module",
        "ray.train._internal.storage",
        "ray._common.deprecation",  # RLlib's own RLModuleConfig warns on every trial start
        "ray.tune.utils.util",
        "ray.tune.execution.tune_controller",
        "ray.tune.tune",
        "ray.tune.trainable.trainable",
    ):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropRoutineLogs) for f in log.filters):
            log.addFilter(_DropRoutineLogs())
    # Saving Tune's state failed (a full disk, a lost bucket): the error, not Tune's stack.
    log = logging.getLogger("ray.tune.execution.experiment_state")
    if not any(isinstance(f, _TracebackToOneLine) for f in log.filters):
        log.addFilter(_TracebackToOneLine())


def prepare() -> None:
    """Ray's ``worker_process_setup_hook`` on a cluster: import the modules the run named."""
    for module in filter(None, os.environ.get(PREIMPORT, "").split(",")):
        importlib.import_module(module)


quiet_routine_logs()
# Our workers import torch before Ray sets OMP_NUM_THREADS for the actor they take.
patches.torch_threads_follow_ray()
