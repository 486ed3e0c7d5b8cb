"""Connecting to Ray: a local Ray of our own on 127.0.0.1 (the default), or a cluster.

Light on purpose (it imports Ray, not RLlib): a CartPole script calls
``start_local_ray_early`` before it imports RLlib, so that the local Ray, and the worker that
will run the trial, come up while the script is still importing (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ray
from ray._private import ray_constants

import envs
from experiments.cli import (
    UsageError,
    build_parser,
    check_args,
    check_storage,
    experiment_path,
    inside_ray_job,
)
from experiments.worker import PREIMPORT  # importing it also quiets routine logs here

REPO_ROOT = Path(__file__).resolve().parents[1]
USAGE_STATS = "RAY_USAGE_STATS_ENABLED"  # off for a local Ray of ours
_SINGLE_MACHINE = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR  # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER
# Tune starts every trial actor with this env var as its runtime_env (see _trial_env_inherited).
_TUNE_TRIAL_ENV = {"PL_DISABLE_FORK": "1"}
_PRESTART_FLAG = "--num_prestart_python_workers="

_local_ray_started = False  # a local Ray of ours, started by this process


def start_local_ray_early(argv: Sequence[str] | None = None) -> None:
    """Start the local Ray now, if the command line is good and runs one trial that samples
    in its own process; else do nothing and leave it all to the runner.

    Called by a script before it imports RLlib (~3 s): Ray's processes start, and the worker
    that will run the trial imports the script's modules while the script still imports.
    Only the checks that need no RLlib run here (values, ``--env`` built and stepped once,
    ``--storage``, ``--name``/``--resume``); any problem, or ``--help``, or ``--config``
    (whose keys only the config can check) means no early start, so the runner reports it
    exactly as it would have, before any Ray starts. A cluster (``--address``,
    ``$RAY_ADDRESS``, a Ray job), a sweep, or remote env runners or learners: not here either.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if ray.is_initialized() or inside_ray_job() or "-h" in argv or "--help" in argv:
        return
    script = Path(sys.argv[0])
    try:
        args = build_parser(script.name, quiet=True).parse_args(argv)
        check_args(args)
        if args.address or args.config or args.sweep:
            return
        if any((args.env_runners, args.eval_runners, args.learners)):
            return
        storage = check_storage(args.storage)
        experiment_path(storage, script.stem, args.name, args.resume)
        if args.env is not None:  # the script's own env is known to build
            envs.try_env(args.env)
    except (UsageError, RuntimeError):
        return
    # The script's own module brings its algorithm, callbacks and envs.
    ours = script.resolve().parent == REPO_ROOT / "experiments"
    modules = worker_preload(*([f"experiments.{script.stem}"] if ours else []))
    _start_local(args.dashboard, modules, threads=None, prestart=1)


def worker_preload(*modules: str) -> list[str]:
    """What every worker of a run imports as it starts, before it takes work: ours (quiet
    logs; ``torch._dynamo`` deferred until something compiles, see
    experiments/deferred_dynamo.py), then ``modules``."""
    return ["experiments.worker", "experiments.deferred_dynamo", *modules]


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
    local Ray starts ahead of time (Ray's default: one per CPU).
    """
    if not ray.is_initialized():
        if address:
            _join(address, preimport, _worker_env(threads))
            return
        _start_local(dashboard, preimport, threads, prestart)
    if _local_ray_started:
        _trial_env_inherited()


def _worker_env(threads: int | None) -> dict[str, str]:
    return {
        **({"OMP_NUM_THREADS": str(threads)} if threads else {}),
        # pygame (CartPole's renderer) would probe for a sound card and log ALSA errors.
        "SDL_AUDIODRIVER": "dummy",
        "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    }


def _join(address: str, preimport: Sequence[str], env_vars: dict[str, str]) -> None:
    runtime_env: dict[str, Any] = {
        "worker_process_setup_hook": "experiments.worker.prepare",
        "env_vars": {**env_vars, PREIMPORT: ",".join(preimport)},
    }
    # Inside `ray job submit` the job already ships the working dir to every worker; a
    # driver joining a cluster directly ships it here (cluster nodes lack this repo).
    if not inside_ray_job():
        runtime_env["working_dir"] = str(REPO_ROOT)
        runtime_env["excludes"] = [
            "results/",
            ".git/",
            "**/__pycache__/",
            "*.mp4",
            "*.egg-info/",
        ]
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
    # Ray turns _node_ip_address="127.0.0.1" into the machine's reachable IP and then binds
    # its servers to every interface; its single-machine mode (made for macOS and Windows)
    # keeps them all on 127.0.0.1. Checked by tests/test_security.py.
    os.environ[_SINGLE_MACHINE] = "0"  # for the processes Ray starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # read by this process at ray.init
    # Ray reports usage statistics to its makers by default; a Ray of ours sends nothing.
    os.environ.setdefault(USAGE_STATS, "0")
    # address="local" starts a new Ray; a bare ray.init() would join whatever
    # /tmp/ray/ray_current_cluster names, even a dead cluster.
    with _without_dashboard(unless=dashboard), _prestarted_workers(prestart):
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


def _trial_env_inherited() -> None:
    """Let Tune's trial actors take the workers Ray started ahead of time.

    Tune starts every trial actor with ``runtime_env={"env_vars": {"PL_DISABLE_FORK": "1"}}``
    (for PyTorch Lightning), so each trial waited for a fresh worker to start and import
    RLlib and torch (~5 s). Our local Ray's workers already have these variables, inherited
    from this process (``_start_local``); Tune's copy is dropped where the values agree.
    ``DEFAULT_ENV_VARS`` is Tune's private API: where it is missing, trials start as before.
    """
    try:
        from ray.tune.execution import class_cache

        defaults = class_cache.DEFAULT_ENV_VARS
    except (ImportError, AttributeError):
        return
    for key, value in list(defaults.items()):
        if os.environ.get(key) == value:
            del defaults[key]


@contextlib.contextmanager
def _without_dashboard(unless: bool) -> Iterator[None]:
    """Start a local Ray without the dashboard's processes, unless the user asked for them.

    - Without ``include_dashboard`` Ray 2.60 still starts the dashboard's process, to run
      only its usage-statistics module (which we switch off), and ``ray.init`` waits for it
      before it starts the raylet: ~1 s of every start (4.5 s -> 3.5 s, measured).
    - The raylet registers only once its dashboard agent has started; Ray starts that agent
      in full (HTTP server, metrics export, job agent) unless the dashboard's dependencies
      fail to import, and imports them in this process to find out (0.6 s). As "minimal",
      the agent starts sooner: ``ray.init`` 2.9-3.0 s against 3.5-4.6 s (3 runs each).

    Nothing this suite uses on a local Ray needs either (Ray's job server, state API and
    metrics live there). ``Node.start_api_server`` and ``get_dashboard_dependency_error`` are
    private API: where they are missing, Ray starts as it always did.
    """
    from ray._private import utils
    from ray._private.node import Node

    originals = (
        getattr(Node, "start_api_server", None),
        getattr(utils, "get_dashboard_dependency_error", None),
    )
    if unless or None in originals or os.environ.get(USAGE_STATS) != "0":
        yield
        return
    Node.start_api_server = lambda self, **kwargs: None
    utils.get_dashboard_dependency_error = lambda: ImportError("no dashboard asked for")
    try:
        yield
    finally:
        Node.start_api_server, utils.get_dashboard_dependency_error = originals


@contextlib.contextmanager
def _prestarted_workers(count: int | None) -> Iterator[None]:
    """Have the raylet start ``count`` workers ahead of time instead of one per CPU.

    Each one imports the preloaded modules (RLlib, torch: ~4 s of CPU); a run of one trial
    uses one, and on 2 cores a second competes with the script and the trial for CPU while
    they start. Ray passes the count on the raylet's command line (``services.start_raylet``,
    private API): where that changes, Ray starts its default.
    """
    from ray._private import services

    original = services.start_ray_process
    if count is None:
        yield
        return

    def start_ray_process(command, *args, **kwargs):
        command = [
            f"{_PRESTART_FLAG}{count}" if str(part).startswith(_PRESTART_FLAG) else part
            for part in command
        ]
        return original(command, *args, **kwargs)

    services.start_ray_process = start_ray_process
    try:
        yield
    finally:
        services.start_ray_process = original
