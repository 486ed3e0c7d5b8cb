"""``run(config, ...)``: what every experiment script calls, read top-down.

Command line → checks (before any Ray starts) → Ray (local or cluster) → Tuner → summary
→ report.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from runner import console, settings, tuner
from runner.cli import UsageError, build_parser, check_args, fail
from runner.connect import check_reachable, connect_ray, worker_preload
from runner.process_clock import process_start_time
from runner.storage import (
    JOB_STORAGE,
    check_storage,
    experiment_dir,
    experiment_path,
    inside_ray_job,
    lock_experiment,
)


def run(
    config: AlgorithmConfig,
    *,
    stop_return: float,
    sweep: dict[str, Any] | None = None,
    smoke: dict[str, Any] | None = None,
    sweep_budget: int | None = None,
    presets: dict[str, AlgorithmConfig] | None = None,
    argv: Sequence[str] | None = None,
    script: str | None = None,
) -> tune.ResultGrid:
    """Train ``config`` as the command line says, then print a summary; return Tune's
    ResultGrid. What every experiment script calls; a failure exits as a shell expects (2 bad
    input, 1 a failed trial or a full disk, 130 Ctrl-C, 143 SIGTERM).

    ``stop_return``: ``--stop-return``'s default. ``sweep``: the grid ``--sweep`` runs.
    ``smoke``: config settings that make ``--smoke`` quick (e.g. a smaller batch), applied
    before ``--config``. ``sweep_budget``: env steps after which a sweep's trial stops
    unsolved, unless ``--max-timesteps`` or ``--max-time`` says otherwise. ``presets``: named
    configs ``--preset NAME`` trains instead of ``config``. ``--eval-interval`` defaults to
    the config's ``evaluation_interval``, else 20.
    """
    script = script or Path(sys.argv[0]).stem
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = f"{script}.py"
    try:
        grid, status = train_argv(
            config,
            argv,
            script=script,
            stop_return=stop_return,
            sweep=sweep,
            smoke=smoke,
            sweep_budget=sweep_budget,
            presets=presets,
            started=process_start_time(),
            resume_hint=console.resume_command(_script_path(script), argv),
        )
    except UsageError as err:
        fail(prog, str(err))
    except TrainingStopped as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    if status:
        raise SystemExit(status)
    return grid


def train(
    experiment: str | AlgorithmConfig,
    *,
    stop_return: float | None = None,
    **flags: Any,
) -> tune.ResultGrid:
    """Train from Python (a notebook) as the command line would; return Tune's ResultGrid.

    ``experiment``: a script's name in ``experiments/`` (``"cartpole_ppo"``: its config, stop
    return, sweep grid and ``--smoke`` settings), or an AlgorithmConfig of your own (then
    ``stop_return`` is needed). ``flags``: the command line's flags by their Python names, e.g.
    ``train("cartpole_ppo", max_time=60, seed=1, video=False, track=["mlflow"],
    config={"num_epochs": 5}, sweep=True, name="mine", resume=True)``.

    Bad values raise ``UsageError`` (one line in a notebook) before any Ray starts. A second
    call reuses the Ray the first started. Interrupting the kernel (Ctrl-C) stops training
    with its state saved and prints the call that continues it.
    """
    if isinstance(experiment, str):
        script, module = experiment, load_script(experiment)
        config = module.config
        stop_return = module.STOP_RETURN if stop_return is None else stop_return
        defaults = {
            "sweep": getattr(module, "SWEEP", None),
            "smoke": getattr(module, "SMOKE", None),
            "sweep_budget": getattr(module, "SWEEP_BUDGET", None),
            "presets": getattr(module, "PRESETS", None),
        }
    else:
        script, config, defaults = config_name(experiment), experiment, {}
        if stop_return is None:
            raise UsageError("train(config) needs stop_return= (a script's name brings its own)")
    argv = as_argv(build_parser(f"{script}.py", config, stop_return), flags)
    again = ", ".join([repr(experiment) if isinstance(experiment, str) else "config"] + [
        f"{key}={value!r}" for key, value in flags.items() if key not in ("resume", "name")
    ])  # fmt: skip
    grid, _ = train_argv(
        config,
        argv,
        script=script,
        stop_return=stop_return,
        started=time.time(),
        since="the train() call",
        resume_hint=f"train({again}, name='{{name}}', resume=True)",
        **defaults,
    )
    return grid


def train_argv(
    config: AlgorithmConfig,
    argv: list[str],
    *,
    script: str,
    stop_return: float,
    started: float,
    resume_hint: str,
    since: str = "process start",
    sweep: dict[str, Any] | None = None,
    smoke: dict[str, Any] | None = None,
    sweep_budget: int | None = None,
    presets: dict[str, AlgorithmConfig] | None = None,
) -> tuple[tune.ResultGrid, int]:
    """The one way a run goes, for ``run`` and ``train``: command line → checks (before any
    Ray starts) → Ray (local or cluster) → Tuner → summary → report.

    Returns the ResultGrid and an exit status: 0, 1 (a trial failed), 130/143 (Ctrl-C,
    SIGTERM). Raises ``UsageError`` for bad input, ``TrainingStopped`` where Tune itself
    failed (e.g. its files on a full disk). ``resume_hint``: how to continue, with ``{name}``;
    ``started``: when the wall time the summary shows starts, ``since`` says what that was.
    """
    parser = build_parser(f"{script}.py", config, stop_return, quiet=True)
    args = parser.parse_args(argv)
    if args.preset is not None:
        if args.preset not in (presets or {}):
            known = ", ".join(presets or {}) or "none"
            raise UsageError(f"unknown --preset {args.preset!r}; {script} has: {known}")
        config = presets[args.preset]  # its own defaults for the scale flags
        parser = build_parser(f"{script}.py", config, stop_return, quiet=True)
        args = parser.parse_args(argv)
    check_args(args)
    if args.sweep and not sweep:
        raise UsageError(f"{script} defines no sweep")
    if args.sweep and sweep_budget and not (args.max_timesteps or args.max_time):
        args.max_timesteps = sweep_budget
    if args.scheduler == "asha" and not args.max_timesteps:
        raise UsageError("--scheduler asha needs a step budget: give --max-timesteps")
    if args.smoke and smoke:
        config = settings.apply_smoke(config, args, parser.parse_args([]), smoke)
    config = settings.apply_args(config, args)
    if inside_ray_job():
        # The job's working dir is a temporary copy that Ray may delete once the trial's
        # workers are gone, while this driver still runs: keep nothing in it.
        if args.storage == parser.get_default("storage"):
            args.storage = str(Path.home() / JOB_STORAGE)
            print(f"{script}: inside a Ray job; results go to {args.storage} (--storage)")
        os.chdir(Path.home())
    storage = check_storage(args.storage)
    name, resuming = experiment_path(storage, script, args.name, args.resume)
    if args.address and not ray.is_initialized():
        check_reachable(args.address)
    tracked = tracking_callbacks(args, script, name, storage, argv)
    # The trials: the sweep's grid (× --num-samples), each point × --seeds.
    grid_space = {**(sweep if args.sweep else {}), **seed_grid(args)} or None
    in_process = not (grid_space or settings.remote_actors(config))
    connect_ray(
        args.address,
        args.dashboard,
        preimport=worker_preload(config.algo_class.__module__),
        # Trials side by side get one CPU each; torch's default of a thread per core would
        # make them fight over every core (benchmarks/HISTORY.md, "Sweeps").
        threads=1 if grid_space else None,
        # One trial that samples, evaluates and learns in its own process uses one worker.
        prestart=1 if in_process else None,
    )
    # What only a running Ray can tell: its GPUs, and an experiment's saved state.
    tuner.check_gpus(args)
    tuner.check_cpus(config)
    lock_experiment(storage, name)
    experiment = tuner.make_tuner(
        config, args, grid_space, storage, name, resuming, [] if resuming else tracked
    )
    print(
        f"{script}: {'resuming' if resuming else 'training'} {name} "
        f"(goal: mean return of the last 100 episodes ≥ {args.stop_return:g}); "
        f"results in {experiment_dir(storage, name)}",
        flush=True,
    )
    resume = resume_hint.replace("{name}", name)
    with console.quiet_while_storage_full(storage):
        try:
            grid, stopped_by = tuner.fit(experiment)
        except Exception as err:  # Tune's own failure (e.g. its files on a full disk): one line
            problem = console.training_stopped(err, storage)
            raise TrainingStopped(f"{problem}; then try: {resume}") from None
        console.print_summary(
            grid,
            script=script,
            storage=storage,
            name=name,
            stop_return=args.stop_return,
            sweep=sweep if args.sweep else None,
            seeds=args.seeds > 1,
            resumed=resuming,
            wall_s=time.time() - started,
            since=since,
        )
    if stopped_by is not None:
        print(f"\ninterrupted; continue with: {resume}")
        return grid, 128 + stopped_by  # as the shell reports it: 130 Ctrl-C, 143 SIGTERM
    full = console.storage_full(storage)
    if full:  # the report could not be written either
        raise TrainingStopped(f"{full}; then try: {resume}")
    if args.report:
        found = console.report_after_training(
            storage,
            name,
            episodes=args.report_episodes,
            video=args.video,
            virtual_display="always" if args.virtual_display else "auto",
            goal=args.stop_return,
        )
        if found is not None and tracked:
            from callbacks import tracking

            best = found.best
            tracking.log_outcome(
                tracked, best.result.metrics["trial_id"], best.checkpoint.path, found.report
            )
    return grid, 1 if grid.errors else 0


class TrainingStopped(Exception):
    """Tune itself could not go on (e.g. its files on a full disk): one line that says what
    to do, ending with how to resume."""

    def _render_traceback_(self) -> list[str]:  # IPython: this one line, no traceback
        return [f"{type(self).__name__}: {self}"]


def seed_grid(args: Any) -> dict[str, Any]:
    """``--seeds N``: the seed as a Tune grid, ``--seed`` (default 0) and the N−1 after it."""
    if args.seeds < 2:
        return {}
    first = args.seed or 0
    return {"seed": tune.grid_search(list(range(first, first + args.seeds)))}


def load_script(name: str) -> Any:
    """The module of the experiment script ``experiments/<name>.py`` (its ``config``,
    ``STOP_RETURN``, ``SWEEP``…), from a checkout or an installed suite alike."""
    import experiments

    known = sorted(m.name for m in pkgutil.iter_modules(experiments.__path__))
    if name not in known:
        raise UsageError(f"no experiment {name!r}; there are: {', '.join(known)}")
    return importlib.import_module(f"experiments.{name}")


def config_name(config: AlgorithmConfig) -> str:
    """A name for experiments of a config of one's own, e.g. ``ppo_cartpole-v1``."""
    env = str(config.env or "env").split(":")[-1].lower()
    return f"{config.algo_class.__name__.lower()}_{env}"


def as_argv(parser: Any, flags: dict[str, Any]) -> list[str]:
    """``train()``'s keyword arguments as the command line: ``max_time=60`` → ``--max-time
    60``; True → the flag; False → ``--no-FLAG`` or nothing; a list → the flag per item;
    ``config={"lr": 1e-3}`` → ``--config lr=0.001``. An unknown name is a ``UsageError``."""
    options = parser._option_string_actions  # argparse's table of flags
    argv: list[str] = []
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if flag not in options or key == "help":
            raise UsageError(f"train() has no flag {key}= (its flags: experiments/X.py --help)")
        if value is None:
            continue
        if value is True:
            argv.append(flag)
        elif value is False:
            argv += ["--no-" + flag[2:]] if "--no-" + flag[2:] in options else []
        elif isinstance(value, dict):
            argv += [x for k, v in value.items() for x in (flag, f"{k}={v!r}")]
        elif isinstance(value, (list, tuple)):
            argv += [x for v in value for x in (flag, str(v))]
        else:
            argv += [flag, str(value)]
    return argv


def tracking_callbacks(
    args: Any, script: str, name: str, storage: str, argv: list[str]
) -> list[Any]:
    """The Tune callbacks ``--track`` asks for (none without it: their imports are slow)."""
    if not args.track:
        return []
    from callbacks import tracking

    command = " ".join([f"{script}.py", *argv])
    return tracking.callbacks(
        args.track, script=script, name=name, storage=storage, command=command
    )


def _script_path(script: str) -> str:
    path = Path(sys.argv[0])
    return str(path) if path.suffix == ".py" else f"experiments/{script}.py"
