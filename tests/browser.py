"""Headless Chromium driven over the DevTools protocol on a pipe (stdlib only, no port).

``--dump-dom`` with ``--virtual-time-budget`` was flaky here (about 1 run in 7): virtual time
can run out in under a second of real time, before the videos have decoded, and the dump then
holds no probe result. This waits in real time for the page's own promise instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class BrowserError(RuntimeError):
    pass


def evaluate_in_page(page: Path, expression: str, profile: Path, timeout: float = 90) -> object:
    """Open ``page`` in headless Chromium, wait for its load event, then evaluate the
    JavaScript ``expression`` (a promise is awaited) and return its value as JSON data."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise BrowserError("chromium is not installed (.ci/run installs it)")
    to_browser, from_browser = os.pipe(), os.pipe()
    # Chromium reads commands on fd 3 and writes replies on fd 4; move our ends above 9
    # first so that the shell's redirections cannot overwrite one with the other.
    theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser[0], from_browser[1])]
    for fd in (to_browser[0], from_browser[1]):
        os.close(fd)
    # Chromium logs (D-Bus complaints, mostly) until it exits: a file, not a pipe read only at
    # the end, which could fill and stall it.
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [
            "bash", "-c", f'exec "$@" 3<&{theirs[0]} 4>&{theirs[1]}', "chromium",
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
        ],
        pass_fds=theirs, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    for fd in theirs:
        os.close(fd)
    devtools = _DevTools(to_browser[1], from_browser[0], time.monotonic() + timeout)
    try:
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        devtools.call("Page.enable", session)
        devtools.call("Page.navigate", session, url=page.as_uri())
        devtools.wait_for("Page.loadEventFired", session)
        reply = devtools.call(
            "Runtime.evaluate", session,
            expression=expression, awaitPromise=True, returnByValue=True,
        )  # fmt: skip
        if "exceptionDetails" in reply:
            raise BrowserError(f"the page's script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")
    except BrowserError as error:
        proc.kill()
        proc.wait()
        log.seek(0)
        raise BrowserError(f"{error}\n{log.read()[-2000:]}") from None
    finally:
        if proc.poll() is None:
            devtools.send("Browser.close")
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(to_browser[1])
        os.close(from_browser[0])
        log.close()


class _DevTools:
    """Messages are JSON, each ended by a NUL byte; replies carry the id of their call."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float):
        self._write, self._read, self._deadline = write_fd, read_fd, deadline
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0

    def send(self, method: str, session: str | None = None, **params) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method: str, session: str | None = None, **params) -> dict:
        call_id = self.send(method, session, **params)
        while True:
            message = self._receive()
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message["result"]
            self._events.append(message)

    def wait_for(self, event: str, session: str) -> dict:
        while True:
            for message in self._events:
                if message.get("method") == event and message.get("sessionId") == session:
                    return message
            self._events.append(self._receive())

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise BrowserError("timed out waiting for Chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed its DevTools pipe (it exited)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)
