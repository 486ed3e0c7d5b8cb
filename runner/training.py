"""``run(config, ...)``: what every experiment script calls, read top-down.

Command line → checks (before any Ray starts) → Ray (local or cluster) → Tuner → summary
→ report.
"""

from __future__ import annotations

import os
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
)


def run(
    config: AlgorithmConfig,
    *,
    stop_return: float,
    sweep: dict[str, Any] | None = None,
    smoke: dict[str, Any] | None = None,
    sweep_budget: int | None = None,
    argv: Sequence[str] | None = None,
    script: str | None = None,
) -> tune.ResultGrid:
    """Train ``config`` as the command line says, then print a summary; return Tune's ResultGrid.

    ``stop_return``: ``--stop-return``'s default. ``sweep``: the grid ``--sweep`` runs.
    ``smoke``: config settings that make ``--smoke`` quick (e.g. a smaller batch), applied
    before ``--config``. ``sweep_budget``: env steps after which a sweep's trial stops
    unsolved, unless ``--max-timesteps`` or ``--max-time`` says otherwise. ``--eval-interval``
    defaults to the config's ``evaluation_interval``, else 20.
    """
    started = process_start_time()
    script = script or Path(sys.argv[0]).stem
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(f"{script}.py", config, stop_return)
    args = parser.parse_args(argv)
    try:
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
    except UsageError as err:
        fail(parser.prog, str(err))
    in_process = not (args.sweep or settings.remote_actors(config))
    connect_ray(
        args.address,
        args.dashboard,
        preimport=worker_preload(config.algo_class.__module__),
        # Trials side by side get one CPU each; torch's default of a thread per core would
        # make them fight over every core (benchmarks/HISTORY.md, "Sweeps").
        threads=1 if args.sweep else None,
        # One trial that samples, evaluates and learns in its own process uses one worker.
        prestart=1 if in_process else None,
    )
    grid_space = sweep if args.sweep else None
    try:  # what only a running Ray can tell: its GPUs, and an experiment's saved state
        tuner.check_gpus(args)
        experiment = tuner.make_tuner(
            config, args, grid_space, storage, name, resuming, [] if resuming else tracked
        )
    except UsageError as err:
        fail(parser.prog, str(err))
    print(
        f"{script}: {'resuming' if resuming else 'training'} {name} "
        f"(goal: mean return of the last 100 episodes ≥ {args.stop_return:g}); "
        f"results in {experiment_dir(storage, name)}",
        flush=True,
    )
    resume = console.resume_command(_script_path(script), argv, name)
    try:
        grid, stopped_by = tuner.fit(experiment)
    except Exception as err:  # Tune's own failure (e.g. its files on a full disk): one line
        problem = console.training_stopped(err, storage)
        print(f"{parser.prog}: error: {problem}; then try: {resume}", file=sys.stderr)
        raise SystemExit(1) from None
    console.print_summary(
        grid,
        script=script,
        storage=storage,
        name=name,
        stop_return=args.stop_return,
        sweep=grid_space,
        wall_s=time.time() - started,
    )
    if stopped_by is not None:
        print(f"\ninterrupted; continue with: {resume}")
        raise SystemExit(128 + stopped_by)  # as the shell reports it: 130 Ctrl-C, 143 SIGTERM
    full = console.storage_full(storage)
    if full:  # the report could not be written either
        print(f"{parser.prog}: error: {full}; then try: {resume}", file=sys.stderr)
        raise SystemExit(1)
    if args.report:
        found = console.report_after_training(
            storage,
            name,
            episodes=args.report_episodes,
            video=args.video,
            virtual_display="always" if args.virtual_display else "auto",
        )
        if found is not None and tracked:
            from callbacks import tracking

            best = found.best
            tracking.log_outcome(
                tracked, best.result.metrics["trial_id"], best.checkpoint.path, found.report
            )
    if grid.errors:
        raise SystemExit(1)
    return grid


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
