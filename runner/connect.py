"""Connecting to Ray: a local Ray of our own on 127.0.0.1 (the default), or a cluster.

Light on purpose (it imports Ray, not RLlib): a script whose one trial samples, evaluates and
learns in its own process may call ``start_local_ray_early`` before it imports RLlib, so that
the local Ray, and the worker that will run the trial, come up while the script is still
importing (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray

import envs
from runner.cli import build_parser, check_args, fail
from runner.storage import check_storage, experiment_path, inside_ray_job
from runner.worker import PREIMPORT  # importing it also quiets routine logs here
from suite import patches
from suite.errors import UsageError
from suite.uris import is_remote, unreachable

REPO_ROOT = Path(__file__).resolve().parents[1]  # a checkout, or site-packages when installed
PACKAGES = ("algorithms", "analysis", "callbacks", "envs", "experiments", "runner", "suite",
            "video")  # fmt: skip
USAGE_STATS = "RAY_USAGE_STATS_ENABLED"  # off for a local Ray of ours
# Tune starts every trial actor with this env var as its runtime_env; our workers inherit it.
_TUNE_TRIAL_ENV = {"PL_DISABLE_FORK": "1"}

_local_ray_started = False  # a local Ray of ours, started by this process
_started_early = False  # by start_local_ray_early, for one trial in its own process


def start_local_ray_early(caller: str = "__main__", argv: Sequence[str] | None = None) -> None:
    """Start the local Ray now, if the script runs as a script (``caller``, its
    ``__name__``, is ``"__main__"``: not when ``train()`` imports it), the command line is
    good and it runs one trial that samples in its own process; else do nothing and leave it
    all to ``run()``.

    The contract: call it only from a script whose config samples, evaluates and learns in
    the trial's own process (no remote env runners, evaluation runners or learners): the
    flags are all it can see before RLlib is imported. ``run()`` checks the config against
    it and stops with a RuntimeError naming the script where they disagree.

    Called by a script before it imports RLlib (seconds): Ray's processes start, and the worker
    that will run the trial imports the script's modules while the script still imports.
    Only the checks that need no RLlib run here (values, ``--env`` built and stepped once,
    ``--storage``, ``--name``/``--resume``); a problem they find ends the script here, in the
    line the runner would print, a second sooner and before any Ray starts. ``--help`` or
    ``--config`` (whose keys only the config can check) means no early start. A cluster
    (``--address``, ``$RAY_ADDRESS``, a Ray job), a sweep, ``--seeds``, or remote env runners
    or learners: not here either, but an address where no Ray answers is refused here.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if caller != "__main__" or ray.is_initialized() or inside_ray_job():
        return
    if "-h" in argv or "--help" in argv:
        return
    script = Path(sys.argv[0])
    try:
        args = build_parser(script.name, quiet=True).parse_args(argv)
        check_args(args)
        if args.address:  # refused now, not after seconds of RLlib's imports
            check_reachable(args.address)
            return
        several = args.sweep or args.seeds > 1
        if args.config or args.preset or several or is_remote(args.storage):
            return
        if any((args.env_runners, args.eval_runners, args.learners)):
            return
        storage = check_storage(args.storage)
        experiment_path(storage, script.stem, args.name, args.resume)
        if args.env is not None:  # the script's own env is known to build
            envs.try_env(args.env)
    except UsageError as err:  # wrong whatever the config: said now, not after RLlib's imports
        fail(script.name, str(err))
    except RuntimeError:
        return
    # The script's own module brings its algorithm, callbacks and envs.
    ours = script.resolve().parent == REPO_ROOT / "experiments"
    modules = worker_preload(*([f"experiments.{script.stem}"] if ours else []))
    _start_local(args.dashboard, modules, threads=None, prestart=1)
    global _started_early
    _started_early = True


def worker_preload(*modules: str) -> list[str]:
    """What every worker of a run imports as it starts, before it takes work: ours (quiet
    logs; ``torch._dynamo`` deferred until something compiles, see suite/patches.py), then
    ``modules``, then the learner's patches (runner/learner_patches.py)."""
    return ["runner.worker", "runner.deferred_dynamo", *modules, "runner.learner_patches"]


def connect_ray(
    address: str | None,
    dashboard: bool,
    preimport: Sequence[str] = (),
    threads: int | None = None,
    prestart: int | None = None,
) -> None:
    """Join ``address``, or start a Ray of our own on 127.0.0.1 (never a stale local one).

    ``preimport`` names modules that every worker imports as soon as it starts; ``threads``
    caps torch's threads in every worker (OMP_NUM_THREADS); ``prestart``: how many workers a
    local Ray starts ahead of time (Ray's default: one per CPU; 1 means one trial that does
    everything in its own process).
    """
    if _started_early and prestart != 1:
        raise RuntimeError(
            f"{Path(sys.argv[0]).name} calls start_local_ray_early(), but its config starts "
            "remote env runners, evaluation runners or learners: remove that call"
        )
    if not ray.is_initialized():
        if address:
            _join(address, preimport, _worker_env(threads))
            return
        _start_local(dashboard, preimport, threads, prestart)
    if _local_ray_started:
        patches.trials_take_prestarted_workers()


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """``UsageError`` unless a Ray cluster listens at ``address``: ``host:port``, a Ray
    Client ``ray://host:port``, or ``auto`` (the cluster Ray last started on this machine, as
    /tmp/ray/ray_current_cluster names it, even a dead one). Ray itself retries for minutes."""
    target = address
    if address == "auto":
        current = Path(os.environ.get("RAY_TMPDIR", "/tmp"), "ray", "ray_current_cluster")
        if not current.is_file():
            raise UsageError(
                "--address auto (or RAY_ADDRESS=auto), but no Ray cluster was started on this "
                "machine; start one with ray start --head, or leave the address unset for a "
                "local Ray of the script's own"
            )
        target = current.read_text().strip()
    host, sep, port = target.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return
    where = f"{address} ({target}, from {current})" if address == "auto" else address
    reason = unreachable(host, int(port), timeout_s)
    if reason:
        raise UsageError(
            f"no Ray cluster answers at {where} ({reason}); start one there with "
            "ray start --head, or fix --address / RAY_ADDRESS"
        )
    other = not_ray(host, int(port), timeout_s / 2)
    if other:
        raise UsageError(f"{other} at {where}; fix --address / RAY_ADDRESS")


# HTTP/2's client preface and an empty SETTINGS frame: Ray's GCS and Ray Client servers are
# gRPC, which answer with a SETTINGS frame of their own; anything else does not.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4


def not_ray(host: str, port: int, timeout_s: float = 5.0) -> str | None:
    """What listens at ``host:port`` if it is not a Ray GCS (or Ray Client) server, else None.
    Ray itself would retry for minutes, printing its C++ warnings."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout_s) as conn:
            conn.sendall(_HTTP2_PREFACE)
            reply = conn.recv(64)
    except TimeoutError:
        reply = b""
    except OSError:
        return None  # gone between the two checks: Ray's own error says it
    if len(reply) >= 9 and reply[3] == _SETTINGS:
        return None
    if _is_ray_dashboard(host, port, timeout_s):
        return (
            "that is Ray's dashboard (HTTP, what ray job submit uses), not its GCS: join the "
            "GCS port instead, usually 6379 (ray start --head prints it)"
        )
    return "nothing Ray answers there (a service that is not Ray listens)"


def _is_ray_dashboard(host: str, port: int, timeout_s: float) -> bool:
    """Whether Ray's dashboard answers there: its one route that answers without a token."""
    url = f"http://{host}:{port}/api/authentication_mode"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            return "authentication_mode" in json.loads(reply.read(4096) or b"{}")
    except (OSError, ValueError):
        return False


def _worker_env(threads: int | None) -> dict[str, str]:
    return {
        **({"OMP_NUM_THREADS": str(threads)} if threads else {}),
        **({patches.SWITCH: os.environ[patches.SWITCH]} if patches.SWITCH in os.environ else {}),
        # pygame (CartPole's renderer) would probe for a sound card and log ALSA errors.
        "SDL_AUDIODRIVER": "dummy",
        "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    }


def _join(address: str, preimport: Sequence[str], env_vars: dict[str, str]) -> None:
    runtime_env: dict[str, Any] = {
        "worker_process_setup_hook": "runner.worker.prepare",
        "env_vars": {**env_vars, PREIMPORT: ",".join(preimport)},
    }
    # Inside `ray job submit` the job already ships the working dir to every worker; a
    # driver joining a cluster directly ships it here (cluster nodes lack this repo).
    if not inside_ray_job() and (REPO_ROOT / "pyproject.toml").is_file():  # a checkout
        runtime_env["working_dir"] = str(REPO_ROOT)
        runtime_env["excludes"] = [
            "results/",
            ".git/",
            "**/__pycache__/",
            "*.mp4",
            "*.egg-info/",
        ]
    elif not inside_ray_job():  # installed (pip install .): our packages, not site-packages
        runtime_env["py_modules"] = [str(REPO_ROOT / package) for package in PACKAGES]
    ray.init(address=address, logging_level="WARNING", runtime_env=runtime_env)


def _start_local(
    dashboard: bool, preimport: Sequence[str], threads: int | None, prestart: int | None
) -> None:
    global _local_ray_started
    # A local Ray's workers inherit this process's environment: the settings below, and this
    # checkout's packages even when the project is not pip-installed. Not as a runtime_env:
    # Ray never hands a worker it started ahead of time to a job or actor that has one
    # (measured), and with none the trial lands on a worker that has imported RLlib already.
    paths = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.update(_worker_env(threads))
    for key, value in _TUNE_TRIAL_ENV.items():
        os.environ.setdefault(key, value)
    patches.keep_ray_on_loopback()  # checked by tests/test_security.py
    # Ray reports usage statistics to its makers by default; a Ray of ours sends nothing.
    os.environ.setdefault(USAGE_STATS, "0")
    # address="local" starts a new Ray; a bare ray.init() would join whatever
    # /tmp/ray/ray_current_cluster names, even a dead cluster.
    with patches.lean_ray_start(dashboard, prestart):
        ray.init(
            address="local",
            _node_ip_address="127.0.0.1",
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            logging_level="WARNING",
            # Every worker imports these as it starts, before it takes work.
            _system_config={"preload_python_modules": list(preimport)},
        )
    _local_ray_started = True
