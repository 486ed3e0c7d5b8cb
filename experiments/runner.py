"""The shared runner: every experiment script is a config plus ``run(config, ...)``.

``run`` gives each script the same command line (``--help``), validates it before any Ray
starts, connects to Ray (a fresh local Ray by default, or a cluster), trains with a Tune
``Tuner`` (checkpoints kept by return, resumable), shows progress and prints a summary.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils import force_list

import envs
from analysis import (
    AnalysisError,
    best_result,
    best_return,
    choose_best,
    completed,
    metric_label,
    trials_table,
    varying_keys,
)
from callbacks import RETURN_METRIC, EpisodeReturnWindow, EvalVideo, FinalEvaluation
from callbacks.learner_threads import LearnerThreads, bundle_cpus
from callbacks.tensorboard import VideoPathsToTensorBoard
from experiments import resume
from experiments.cli import (
    JOB_STORAGE,
    SMOKE_ITERATIONS,
    UsageError,
    build_parser,
    check_args,
    check_lr,
    check_storage,
    experiment_path,
    fail,
    inside_ray_job,
)
from experiments.connect import connect_ray, worker_preload
from experiments.process_clock import process_start_time

# Tune warns on every checkpoint once syncing takes > 5 s in total; CartPole checkpoints often.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

TIMESTEPS = "num_env_steps_sampled_lifetime"
MODEL_KEYS = {field.name for field in dataclasses.fields(DefaultModelConfig)}


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word such as relu


_FLAG_OF_SETTING = {
    "num_env_runners": "env_runners",
    "num_envs_per_env_runner": "envs_per_runner",
    "num_learners": "learners",
}


def stop_rule(args: argparse.Namespace) -> dict[str, float]:
    """Tune's stop dict: a trial stops when its result reaches any of these."""
    stop: dict[str, float] = {RETURN_METRIC: args.stop_return}
    if args.max_timesteps:
        stop[TIMESTEPS] = args.max_timesteps
    if args.max_time:
        stop["time_total_s"] = args.max_time
    if args.smoke:
        stop["training_iteration"] = SMOKE_ITERATIONS
    return stop


def apply_args(config: AlgorithmConfig, args: argparse.Namespace) -> AlgorithmConfig:
    """Return a copy of ``config`` with the command line applied; ``UsageError`` on bad values."""
    config = config.copy(copy_frozen=False)
    config.environment(envs.register_env(args.env))
    try:
        envs.try_env(args.env, dict(config.env_config or {}))
    except RuntimeError as err:
        raise UsageError(str(err)) from None
    config.env_runners(
        num_env_runners=args.env_runners, num_envs_per_env_runner=args.envs_per_runner
    )
    config.learners(num_learners=args.learners, num_gpus_per_learner=args.gpus)
    if args.seed is not None:
        config.debugging(seed=args.seed)
    if config.delay_between_env_runner_restarts_s == 60.0:  # RLlib's default, made for spot
        # instances coming back; a crashed env runner here is back in seconds.
        config.fault_tolerance(delay_between_env_runner_restarts_s=5.0)
    _apply_overrides(config, args)
    _apply_evaluation(config, args)
    if not args.sweep:
        config = with_learner_threads(config)
    check_config(config)
    return config


def with_learner_threads(config: AlgorithmConfig) -> AlgorithmConfig:
    """``config`` whose local learner uses a torch thread for every CPU its trial reserves;
    see callbacks.learner_threads."""
    threads = bundle_cpus(config)
    if threads > 1:
        add_callbacks(config, partial(LearnerThreads, threads=threads))
    return config


def add_callbacks(config: AlgorithmConfig, *callbacks: Any) -> None:
    """Add ``callbacks`` after the config's own (RLlib's do-nothing default dropped)."""
    own = [c for c in force_list(config.callbacks_class) if c is not RLlibCallback]
    config.callbacks([*own, *callbacks])


def _apply_overrides(config: AlgorithmConfig, args: argparse.Namespace) -> None:
    overrides = {}
    for item in args.config:
        key, sep, text = item.partition("=")
        if not sep:
            raise UsageError(f"--config takes KEY=VALUE, got {item!r}")
        overrides[key.strip()] = _parse_value(text.strip())
    if args.lr is not None:
        overrides["lr"] = args.lr
    model = dict(_model_config(config))
    for key, value in overrides.items():
        if key in MODEL_KEYS:
            model[key] = value
        elif hasattr(config, key) and not key.startswith("_"):
            setattr(config, key, value)
        else:
            known = [*MODEL_KEYS, *(k for k in vars(config) if not k.startswith("_"))]
            close = difflib.get_close_matches(key, known, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(f"unknown config key {key!r}{hint}")
    config.rl_module(model_config=model)


def _apply_evaluation(config: AlgorithmConfig, args: argparse.Namespace) -> None:
    """Greedy evaluation rounds, the stop rule's metric, and videos of evaluation episodes."""
    callbacks: list[Any] = [EpisodeReturnWindow]
    if args.eval_interval > 0:
        episodes = max(args.eval_episodes, args.video_episodes if args.video else 1)
        config.evaluation(
            evaluation_interval=args.eval_interval,
            # 0: in the trial's own process, between iterations (no actor to start: best
            # for fast envs); N > 0: on N actors, beside training (any node of a cluster).
            evaluation_num_env_runners=args.eval_runners,
            evaluation_duration=episodes,
            evaluation_duration_unit="episodes",
            evaluation_parallel_to_training=args.eval_runners > 0,
            # One env per episode of the round: they play side by side, so a round takes
            # about one episode's time. RLlib ends a round after N finished episodes, so a
            # recorded episode always finishes only when N = K.
            evaluation_config={
                **(config.evaluation_config or {}),
                "num_envs_per_env_runner": episodes,
                "explore": False,
            },
        )
        callbacks.append(partial(FinalEvaluation, stop=stop_rule(args)))
        if args.video:
            display = "always" if args.virtual_display else "auto"
            callbacks.append(
                partial(EvalVideo, episodes=args.video_episodes, virtual_display=display)
            )
    else:
        config.evaluation(evaluation_interval=None)
    add_callbacks(config, *callbacks)


def _model_config(config: AlgorithmConfig) -> dict:
    model = config.model_config
    return dataclasses.asdict(model) if dataclasses.is_dataclass(model) else dict(model or {})


def check_config(config: AlgorithmConfig) -> None:
    """Reject values RLlib would accept silently or report in a 40-line traceback."""
    check_lr(config.lr)  # --config lr=... (check_args has seen --lr)
    batch = config.train_batch_size_per_learner
    minibatch = getattr(config, "minibatch_size", None)
    if isinstance(minibatch, int) and isinstance(batch, int) and minibatch > batch:
        raise UsageError(
            f"minibatch_size {minibatch} is larger than the train batch {batch}; "
            f"lower --config minibatch_size or raise train_batch_size_per_learner"
        )
    try:
        config.validate()
    except Exception as err:  # RLlib raises ValueError/TypeError with multi-line text
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"invalid config: {first}") from None


def _remote_actors(config: AlgorithmConfig) -> int:
    return config.num_env_runners + config.evaluation_num_env_runners + config.num_learners


# The grid of the RLlib tutorial this suite grew from: 2 × 2 × --num-samples trials.
TUTORIAL_SWEEP: dict[str, Any] = {
    "fcnet_hiddens": tune.grid_search([[32], [64]]),
    "fcnet_activation": tune.grid_search(["linear", "relu"]),
    "lr": tune.uniform(1e-5, 1e-2),
}


def sweep_space(config: AlgorithmConfig, sweep: dict[str, Any]) -> AlgorithmConfig:
    """Put Tune search spaces into ``config``: model keys into model_config, others as attrs."""
    config = config.copy(copy_frozen=False)
    model = _model_config(config)
    for key, space in sweep.items():
        if key in MODEL_KEYS:
            model[key] = space
        else:
            setattr(config, key, space)
    config.rl_module(model_config=model)
    return config


class ProgressLine(tune.Callback):
    """One line per trial every few seconds: iteration, steps, return, time."""

    def __init__(self, stop_return: float, max_failures: int = 0, every_s: float = 2.0) -> None:
        self.stop_return = stop_return
        self.max_failures = max_failures
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        now = time.monotonic()
        if now - self._last.get(trial.trial_id, -math.inf) < self.every_s:
            return
        self._last[trial.trial_id] = now
        value = result.get(RETURN_METRIC, math.nan)
        shown = f"{value:7.1f}" if not math.isnan(value) else "      -"  # no episode ended yet
        print(
            f"[{trial.trial_id}] iter {result['training_iteration']:>4}  "
            f"steps {int(result.get(TIMESTEPS, 0)):>9,}  "
            f"return(last 100) {shown} / {self.stop_return:g}  "
            f"{result.get('time_total_s', 0):6.1f} s",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        print(f"[{trial.trial_id}] FAILED: {_error_line(trial.error_file)}", flush=True)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        print(
            f"[{trial.trial_id}] failed ({_error_line(trial.error_file)}); "
            f"retrying: failure {trial.num_failures} of --max-failures {self.max_failures} allowed",
            flush=True,
        )


def _error_line(error_file: str | None) -> str:
    """The real cause of a trial's latest failure, from Tune's error file."""
    if not error_file or not os.path.exists(error_file):
        return "unknown error"
    latest = re.split(r"^Failure # \d+.*$", Path(error_file).read_text(), flags=re.M)[-1]
    return root_cause(latest) if latest.strip() else "unknown error"


def run(
    config: AlgorithmConfig,
    *,
    stop_return: float,
    sweep: dict[str, Any] | None = None,
    smoke: dict[str, Any] | None = None,
    sweep_budget: int | None = None,
    eval_interval: int = 20,
    argv: Sequence[str] | None = None,
    script: str | None = None,
) -> tune.ResultGrid:
    """Train ``config`` as the command line says, then print a summary; return Tune's ResultGrid.

    ``smoke``: config settings that make ``--smoke`` quick (e.g. a smaller batch), applied
    before ``--config`` overrides. ``sweep_budget``: env steps after which a sweep's trial
    stops unsolved, unless ``--max-timesteps`` or ``--max-time`` says otherwise.
    ``eval_interval``: ``--eval-interval``'s default for this script.
    """
    started = process_start_time()
    script = script or Path(sys.argv[0]).stem
    parser = build_parser(f"{script}.py", config, stop_return, eval_interval=eval_interval)
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
            config = config.copy(copy_frozen=False).update_from_dict(smoke)
            for key, flag in _FLAG_OF_SETTING.items():  # flags the user left alone follow
                if key in smoke and getattr(args, flag) == parser.get_default(flag):
                    setattr(args, flag, smoke[key])
        config = apply_args(config, args)
        if inside_ray_job():
            # The job's working dir is a temporary copy that Ray may delete once the trial's
            # workers are gone, while this driver still runs: keep nothing in it.
            if args.storage == parser.get_default("storage"):
                args.storage = str(Path.home() / JOB_STORAGE)
                print(f"{script}: inside a Ray job; results go to {args.storage} (--storage)")
            os.chdir(Path.home())
        storage = check_storage(args.storage)
        name, resuming = experiment_path(storage, script, args.name, args.resume)
    except UsageError as err:
        fail(parser.prog, str(err))
    # Trials side by side get one CPU each; torch's default of a thread per core would make
    # them fight over every core (measured: 7x slower per iteration with 2 CartPole trials).
    connect_ray(
        args.address,
        args.dashboard,
        preimport=worker_preload(config.algo_class.__module__),
        threads=1 if args.sweep else None,
        # One trial that samples, evaluates and learns in its own process uses one worker.
        prestart=None if args.sweep or _remote_actors(config) else 1,
    )
    _check_gpus(parser.prog, args)
    tuner = _make_tuner(config, args, sweep if args.sweep else None, storage, name, resuming)
    print(
        f"{script}: {'resuming' if resuming else 'training'} {name} "
        f"(goal: mean return of the last 100 episodes ≥ {args.stop_return:g}); "
        f"results in {_shown(storage, name)}",
        flush=True,
    )
    grid, interrupted = _fit(tuner)
    print_summary(
        grid,
        script=script,
        storage=storage,
        name=name,
        stop_return=args.stop_return,
        sweep=sweep if args.sweep else None,
        wall_s=time.time() - started,
    )
    if args.report and not interrupted:
        write_report(
            storage,
            name,
            episodes=args.report_episodes,
            video=args.video,
            virtual_display="always" if args.virtual_display else "auto",
        )
    if interrupted:
        again = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--resume"]
        if "--name" not in again:
            again += ["--name", name]
        command = f"python {_shown_script(script)} {' '.join(again)} --resume"
        print(f"\ninterrupted; continue with: {command}")
        raise SystemExit(130)
    if grid.errors:
        raise SystemExit(1)
    return grid


def _check_gpus(prog: str, args: argparse.Namespace) -> None:
    """Refuse a trial that asks for more GPUs than the cluster has: Tune would wait for them
    forever. Each remote learner takes ``--gpus``; with none, the trial's own process does."""
    have = ray.cluster_resources().get("GPU", 0)
    need = args.gpus * max(1, args.learners)
    if need <= have:
        return
    if args.learners > 1:
        fail(
            prog,
            f"--learners {args.learners} × --gpus {args.gpus:g} = {need:g} GPUs asked for, but "
            f"this Ray cluster has {have:g}; lower --learners or --gpus",
        )
    fail(
        prog, f"--gpus {args.gpus:g} asked for, but this Ray cluster has {have:g} GPUs; drop --gpus"
    )


def write_report(storage: str, name: str, **options: Any) -> None:
    """Restore the best checkpoint, evaluate it, write report.html; say where it all is.

    A report that cannot be made is a warning: training itself went fine.
    """
    if "://" in storage:
        print("report: skipped for remote storage; run python -m analysis on a local copy")
        return
    from analysis import RestoreError, analyse  # restoring and plotting: only now, not at start

    experiment = Path(storage, name)
    try:
        found = analyse(
            experiment, progress=lambda line: print(f"report: {line}", flush=True), **options
        )
    except (AnalysisError, RestoreError) as err:
        print(f"report: not written: {err}")
        return
    lines = []
    if found.episodes:
        lines.append(("restored policy", f"{found.episodes} (greedy)"))
    lines += [(name, str(path)) for name, path in found.files.items() if name.endswith(".mp4")]
    lines += [("warning", warning) for warning in found.warnings]
    lines.append(("report", str(found.report)))
    for key, value in lines:
        print(f"{key:<20}   {value}")


def _fit(tuner: tune.Tuner) -> tuple[tune.ResultGrid, bool]:
    """Run the Tuner; also say whether Ctrl-C (SIGINT) ended it.

    Tune catches the first SIGINT itself (saving the experiment for --resume) and then puts
    back the handler it found, so finding our handler back in place means Ctrl-C was pressed.
    """
    # Tune installs its handler only from the main thread, and not when told not to.
    watched = threading.current_thread() is threading.main_thread() and (
        os.environ.get("TUNE_DISABLE_SIGINT_HANDLER") != "1"
    )
    before = signal.getsignal(signal.SIGINT)
    grid = tuner.fit()
    if not watched:
        return grid, False
    interrupted = signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, before)  # Tune leaves its handler installed otherwise
    return grid, interrupted


def _shown_script(script: str) -> str:
    path = Path(sys.argv[0])
    return str(path) if path.suffix == ".py" else f"experiments/{script}.py"


def _make_tuner(
    config: AlgorithmConfig,
    args: argparse.Namespace,
    sweep: dict | None,
    storage: str,
    name: str,
    resuming: bool,
) -> tune.Tuner:
    stop = stop_rule(args)
    param_space = sweep_space(config, sweep) if sweep else config
    trainable = config.algo_class
    if resuming:
        if "://" in storage:
            path = f"{storage.rstrip('/')}/{name}"
        else:
            path = str(Path(storage) / name)
            for line in resume.reconcile(Path(path)):
                print(line, flush=True)
        return tune.Tuner.restore(
            path,
            trainable=trainable,
            param_space=param_space,
            resume_unfinished=True,
            resume_errored=True,
        )
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage,
        stop=stop,
        verbose=0,
        callbacks=[ProgressLine(args.stop_return, args.max_failures), VideoPathsToTensorBoard()],
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=args.keep_checkpoints,
            checkpoint_score_attribute=RETURN_METRIC,
            checkpoint_score_order="max",
            checkpoint_frequency=args.checkpoint_every,
            checkpoint_at_end=True,
        ),
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
    )
    tune_config = tune.TuneConfig(
        num_samples=args.num_samples if sweep else 1,
        max_concurrent_trials=_concurrent_trials() if sweep else None,
        scheduler=_scheduler(args) if sweep else None,
    )
    return tune.Tuner(
        trainable, param_space=param_space, run_config=run_config, tune_config=tune_config
    )


def _scheduler(args: argparse.Namespace) -> tune.schedulers.TrialScheduler | None:
    """ASHA: at 1/9 and 1/3 of the step budget, only the best third of trials go on."""
    if args.scheduler != "asha":
        return None
    return tune.schedulers.ASHAScheduler(
        time_attr=TIMESTEPS,
        metric=RETURN_METRIC,
        mode="max",
        max_t=args.max_timesteps,
        grace_period=max(1, args.max_timesteps // 9),
        reduction_factor=3,
    )


def _concurrent_trials() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _shown(storage: str, name: str) -> str:
    """A path as a user would type it: relative to the current directory when inside it."""
    if "://" in storage:
        return f"{storage.rstrip('/')}/{name}"
    path = Path(storage) / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def print_summary(
    grid: tune.ResultGrid,
    *,
    script: str,
    storage: str,
    name: str,
    stop_return: float,
    sweep: dict | None,
    wall_s: float,
) -> None:
    """Best return, iterations, timesteps, wall time, best checkpoint and what to run next."""
    table = trials_table(grid)
    if sweep:
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            print("\n" + table.drop(columns=["checkpoint"]).to_string(index=False))
    for result in grid:
        if result.error:
            print(f"trial {Path(result.path).name}: error: {root_cause(result.error)}")
    exp_dir = _shown(storage, name)
    print(f"\n== {script}: {name}")
    try:
        best = best_result(grid)
    except AnalysisError:  # no episode finished yet (a short --smoke on Pong): any trial
        best = next(iter(completed(grid)), None)
    if best is None:
        print(f"no trial completed an iteration\nexperiment directory   {exp_dir}")
        return
    top = best_return(best)
    metrics = best.metrics
    try:  # the checkpoint python -m analysis and the report pick (by evaluation return)
        chosen = choose_best(grid)
        checkpoint = chosen.checkpoint.path + (
            f" ({metric_label(chosen.metric)} {chosen.value:.1f} when saved)"
            if not math.isnan(chosen.value)
            else ""
        )
    except AnalysisError:
        checkpoint = "none"
    solved = "solved" if top >= stop_return else "not solved"
    shown_return = (
        f"{top:.1f} (mean of last 100 episodes; goal {stop_return:g}: {solved})"
        if not math.isnan(top)
        else f"none yet: no episode finished (goal {stop_return:g})"
    )
    training_s = metrics.get("time_total_s", 0)
    lines = [
        ("best return", shown_return),
        ("iterations", f"{metrics.get('training_iteration', 0)}"),
        ("timesteps", f"{int(metrics.get(TIMESTEPS, 0)):,}"),
        ("wall time", f"{wall_s:.1f} s from process start (training {training_s:.1f} s)"),
        ("best checkpoint", checkpoint),
        ("videos", _videos_line(best.path)),
        ("experiment directory", exp_dir),
        ("analyse it", f"python -m analysis {exp_dir}"),
    ]
    if sweep:
        best_row = table[table["trial"] == metrics.get("trial_id")].iloc[0]
        varying = ", ".join(f"{k}={best_row[k]}" for k in varying_keys(grid))
        lines.insert(0, ("best config", varying))
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}   {value}")


def _videos_line(trial_path: str) -> str:
    if "://" in trial_path:  # remote storage: not listed from here
        return f"{trial_path}/videos/"
    videos = sorted(Path(trial_path, "videos").glob("*.mp4"))
    if not videos:
        return "none"
    return f"{len(videos)} MP4s in {videos[0].parent} (newest: {videos[-1].name})"


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (\S.*)$")


def root_cause(error: BaseException | str) -> str:
    """The first exception with a message in a (chained, Ray-wrapped) traceback: the cause.

    RLlib and Ray re-raise a remote worker's error as ``RuntimeError`` or an actor error,
    so the last line of a trial's traceback is rarely what went wrong.
    """
    lines = [line.strip() for line in str(error).strip().splitlines()]
    for line in lines:
        match = _EXCEPTION_LINE.match(line)
        if match:
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}"
    return lines[-1] if lines and lines[-1] else type(error).__name__
