"""Seconds since this process started: the clock for "time to solve from process start"."""

from __future__ import annotations

import os
import time

_IMPORTED_AT = time.time()


def process_start_time() -> float:
    """Wall-clock time (epoch seconds) at which this process started.

    Read from /proc on Linux, so interpreter start-up and imports count; elsewhere, the time
    this module was first imported.
    """
    try:
        with open("/proc/self/stat") as stat:
            # Field 22 (starttime, in clock ticks since boot) follows the ")" of the name.
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as proc_stat:
            boot = next(int(line.split()[1]) for line in proc_stat if line.startswith("btime"))
        return boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT
