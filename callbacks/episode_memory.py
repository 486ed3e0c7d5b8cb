"""Memory that grew with episode length, handed back after every sample and iteration, so
a run's memory stays flat however long its episodes get."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

from suite import patches


def _glibc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library is another (macOS, musl)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


class ReleaseEpisodeMemory(RLlibCallback):
    """Two things that grew with the longest episode, on every env runner and in the trial.

    - RLlib keeps every chunk an env runner returned of an episode still running, frames and
      all, until it ends, only to add up its length, return and duration then; each env
      runner keeps just those totals (suite/patches.py).
    - Freed frames left glibc's heap at its high-water mark: ``malloc_trim(0)`` hands the
      free pages back after each iteration (in a remote env runner, after each sample).

    A Pong PPO agent that learned to win played 2,000-step episodes; without these its
    trial's memory grew +17 % in 25 minutes (benchmarks/RESULTS.md, "Pong PPO").
    """

    def __init__(self) -> None:
        super().__init__()
        self._trim = _glibc_trim()

    def on_sample_end(self, *, env_runner: Any = None, **kwargs: Any) -> None:
        if env_runner is None:
            return
        patches.keep_only_totals_of_returned_chunks(env_runner)
        if self._trim is not None and (env_runner.worker_index or 0) > 0:
            self._trim(0)  # a remote env runner's own process (the trial's: on_train_result)

    def on_train_result(self, **kwargs: Any) -> None:
        if self._trim is not None:
            self._trim(0)
