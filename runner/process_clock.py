"""The clock for "time from process start": from when Python started running the script.

Not the process's start in /proc: a shell, container entrypoint or job wrapper that execs
Python as its last command keeps its process, and all it ran before Python would count.
"""

from __future__ import annotations

import time

_IMPORTED_AT = time.time()  # every script imports the runner in its first lines


def process_start_time() -> float:
    """Wall-clock time (epoch seconds) at which this process started running the script:
    the first import of this module, in a script's first lines (after the interpreter's own
    start-up, ~0.1 s)."""
    return _IMPORTED_AT
