"""A virtual X display (Xvfb via pyvirtualdisplay) for the process that renders.

Started at most once per process and stopped when that process ends, even when Ray kills
the process with SIGKILL: a watchdog in its own session takes Xvfb down with it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess

INSTALL_HINT = "Xvfb not found: install it (apt-get install xvfb); continuing without video"

_display = None  # this process's pyvirtualdisplay.Display, once started
_unavailable: str | None = None  # why a display cannot be had here, once known


def needs_display(mode: str) -> bool:
    """Whether ``mode`` ("auto", "always" or "never") asks for a virtual display up front."""
    return mode == "always" or (mode == "auto" and not os.environ.get("DISPLAY"))


def ensure_virtual_display() -> str | None:
    """Start this process's virtual display if none runs yet; return None, or why it can't.

    The caller reports the reason (one line: how to install Xvfb) as a warning.

    On success ``DISPLAY`` points at the new display for everything in this process.
    """
    global _display, _unavailable
    if _display is not None or _unavailable:
        return _unavailable
    if shutil.which("Xvfb") is None:
        _unavailable = INSTALL_HINT
        return _unavailable
    from pyvirtualdisplay import Display

    try:
        display = Display(visible=False, size=(1400, 900), color_depth=24)
        display.start()
    except Exception as err:  # Xvfb present but failing to start: say why, once
        _unavailable = f"Xvfb failed to start ({err}); continuing without video"
        return _unavailable
    _display = display
    atexit.register(stop_virtual_display)
    _watch(os.getpid(), display.pid)
    return None


def stop_virtual_display() -> None:
    """Stop this process's virtual display, if it started one."""
    global _display
    if _display is not None:
        _display.stop()
        _display = None


def _watch(owner_pid: int, xvfb_pid: int) -> None:
    # Ray may SIGKILL its workers, skipping atexit; this watchdog (its own session, so it
    # outlives us) kills Xvfb within a second of the owner's death.
    script = (
        f"while kill -0 {owner_pid} 2>/dev/null; do sleep 0.5; done; "
        f"kill {xvfb_pid} 2>/dev/null; sleep 2; kill -9 {xvfb_pid} 2>/dev/null; true"
    )
    subprocess.Popen(
        ["sh", "-c", script],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
