"""Where an experiment goes: ``--storage`` (a local path or a URI), ``--name``, ``--resume``.

Light on purpose (no RLlib): ``start_local_ray_early`` checks these before RLlib is imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.uris import is_remote


def experiment_dir(storage: str, name: str) -> str:
    """The experiment's directory (or URI) as a user would type it: relative to the current
    directory when inside it."""
    if is_remote(storage):
        return f"{storage.rstrip('/')}/{name}"
    path = Path(storage) / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


JOB_STORAGE = "rayrl-results"  # under $HOME: --storage's default inside a Ray job


def inside_ray_job() -> bool:
    """Whether this driver was started by ``ray job submit`` (Ray hands it the job's config)."""
    return bool(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"))


def check_storage(storage: str) -> str:
    """Create ``storage`` if needed and prove it is writable; return it as an absolute path."""
    if is_remote(storage):  # s3://, gs://, ...: reached through pyarrow, as Tune will
        import pyarrow.fs

        try:
            filesystem, path = pyarrow.fs.FileSystem.from_uri(storage)
            filesystem.get_file_info(path)
        except (OSError, pyarrow.ArrowException) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UsageError(
                f"--storage {storage} cannot be reached ({reason}); check the URI, your "
                "credentials and the network"
            ) from None
        return storage
    path = Path(storage).expanduser().absolute()
    probe = path / f".write-test-{uuid.uuid4().hex}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"--storage {storage} is not writable ({err.strerror or err})") from None
    return str(path)


def experiment_path(storage: str, script: str, name: str | None, resume: bool) -> tuple[str, bool]:
    """Pick the experiment directory; return (name, exists). ``UsageError`` when it cannot."""
    if is_remote(storage):
        if resume and not name:
            raise UsageError("--resume with remote --storage needs --name")
        return name or f"{script}_{datetime.now():%Y-%m-%d_%H-%M-%S}", resume
    root = Path(storage)
    if resume:
        from ray.tune import Tuner  # Tune's imports: only where needed

        if name is None:
            candidates = sorted(
                (p for p in root.glob(f"{script}_*") if Tuner.can_restore(p)),
                key=lambda p: p.stat().st_mtime,
            )
            if not candidates:
                raise UsageError(f"no {script} experiment to resume in {storage}; pass --name")
            return candidates[-1].name, True
        if not Tuner.can_restore(root / name):
            raise UsageError(f"no experiment to resume at {root / name}")
        return name, True
    if name is None:
        return f"{script}_{datetime.now():%Y-%m-%d_%H-%M-%S}", False
    if (root / name).exists():
        raise UsageError(
            f"{root / name} already exists; add --resume to continue it or pick another --name"
        )
    return name, False


_locks: dict[str, Any] = {}  # experiment lock files this process holds, open until it exits


def lock_experiment(storage: str, name: str) -> None:
    """Claim experiment ``name`` in a local ``storage`` for this process; ``UsageError`` if
    another process runs it (two drivers would train the same trials into the same files)."""
    if is_remote(storage):
        return
    path = Path(storage, f".{name}.lock")
    if str(path) in _locks:  # this process's own, e.g. train(..., resume=True) in a notebook
        return
    handle = open(path, "a+")  # noqa: SIM115 (held open: the lock lasts as long as the process)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise UsageError(
            f"experiment {name} is being run by {owner}; let it finish, or stop it "
            "(Ctrl-C), then --resume"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
    handle.flush()
    _locks[str(path)] = handle


FULL_BYTES = 1 << 20  # less free space than this on --storage: call it full


def storage_full(storage: str) -> str | None:
    """What to say when the local ``storage`` is full (Tune then fails on the half-written
    files it left there, and so would the report), else None."""
    if is_remote(storage):
        return None
    try:
        if shutil.disk_usage(storage).free >= FULL_BYTES:
            return None
    except OSError:
        return None
    return (
        f"--storage {storage} is full (OSError: [Errno 28] No space left on device); "
        "free space there"
    )


@contextlib.contextmanager
def quiet_while_storage_full(storage: str) -> Iterator[None]:
    """Drop the lines of Ray's and Tune's loggers (Tune's "Saving experiment state ...
    failed", "Failed to fetch metrics") while ``storage`` is full: the suite says it in one
    line, with what to do."""

    def quiet(record: logging.LogRecord) -> bool:
        return storage_full(storage) is None

    handlers = [*logging.getLogger("ray").handlers, *logging.getLogger().handlers]
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
