"""``run(config, ...)``: what every experiment script calls, read top-down.

Command line → checks (before any Ray starts) → Ray (local or cluster) → Tuner → summary
→ report.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
from ray import tune

from runner import console, settings, tuner
from runner.after_training import report_after_training
from runner.cli import build_parser, check_args, fail
from runner.connect import check_reachable, connect_ray, worker_preload
from runner.experiment import Experiment
from runner.process_clock import process_start_time
from runner.storage import (
    JOB_STORAGE,
    check_storage,
    experiment_dir,
    experiment_path,
    inside_ray_job,
    lock_experiment,
    quiet_while_storage_full,
    storage_full,
)
from suite.errors import UsageError


def run(
    experiment: Experiment,
    *,
    argv: Sequence[str] | None = None,
    script: str | None = None,
) -> tune.ResultGrid:
    """Train ``experiment`` as the command line says, then print a summary; return Tune's
    ResultGrid. What every experiment script calls; a failure exits as a shell expects (2 bad
    input, 1 a failed trial or a full disk, 130 Ctrl-C, 143 SIGTERM). ``--eval-interval``
    defaults to the config's ``evaluation_interval``, else 20.
    """
    script = script or Path(sys.argv[0]).stem
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = f"{script}.py"
    try:
        grid, status = train_argv(
            experiment,
            argv,
            script=script,
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


def train_argv(
    experiment: Experiment,
    argv: list[str],
    *,
    script: str,
    started: float,
    resume_hint: str,
    since: str = "process start",
) -> tuple[tune.ResultGrid, int]:
    """The one way a run goes, for ``run`` and ``train``: command line → checks (before any
    Ray starts) → Ray (local or cluster) → Tuner → summary → report.

    Returns the ResultGrid and an exit status: 0, 1 (a trial failed), 130/143 (Ctrl-C,
    SIGTERM). Raises ``UsageError`` for bad input, ``TrainingStopped`` where Tune itself
    failed (e.g. its files on a full disk). ``resume_hint``: how to continue, with ``{name}``;
    ``started``: when the wall time the summary shows starts, ``since`` says what that was.
    """
    parser = build_parser(f"{script}.py", experiment, quiet=True)
    args = parser.parse_args(argv)
    config, sweep, presets = experiment.config, experiment.sweep, experiment.presets
    if args.preset is not None:
        if args.preset not in presets:
            known = ", ".join(presets) or "none"
            raise UsageError(f"unknown --preset {args.preset!r}; {script} has: {known}")
        config = presets[args.preset]  # its own defaults for the scale flags
        parser = build_parser(f"{script}.py", replace(experiment, config=config), quiet=True)
        args = parser.parse_args(argv)
    check_args(args)
    if args.sweep and not sweep:
        raise UsageError(f"{script} defines no sweep")
    if args.sweep and experiment.sweep_budget and not (args.max_timesteps or args.max_time):
        args.max_timesteps = experiment.sweep_budget
    if args.scheduler == "asha" and not args.max_timesteps:
        raise UsageError("--scheduler asha needs a step budget: give --max-timesteps")
    if args.smoke and experiment.smoke:
        config = settings.apply_smoke(config, args, parser.parse_args([]), experiment.smoke)
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
    trials = tuner.make_tuner(
        config, args, grid_space, storage, name, resuming, [] if resuming else tracked
    )
    print(
        f"{script}: {'resuming' if resuming else 'training'} {name} "
        f"(goal: mean return of the last 100 episodes ≥ {args.stop_return:g}); "
        f"results in {experiment_dir(storage, name)}",
        flush=True,
    )
    resume = resume_hint.replace("{name}", name)
    with quiet_while_storage_full(storage):
        try:
            grid, stopped_by = tuner.fit(trials)
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
    full = storage_full(storage)
    if full:  # the report could not be written either
        raise TrainingStopped(f"{full}; then try: {resume}")
    if args.report:
        found = report_after_training(
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
