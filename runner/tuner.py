"""How the Tune ``Tuner`` is built and run: stop rule, checkpoints kept by return, failures,
sweeps (grid, ASHA), ``--resume``, and Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

import ray
from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from callbacks import RETURN_METRIC
from callbacks.tensorboard import VideoPathsToTensorBoard
from runner import resume
from runner.console import ProgressLine
from runner.settings import StopRule, apply_settings
from runner.storage import experiment_dir
from suite.errors import UsageError
from suite.uris import is_remote

# Tune warns on every checkpoint once syncing takes > 5 s in total; CartPole checkpoints often.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# Tune's console output even at verbose=0: a configuration box, "View detailed results here"
# and a TensorBoard command into Ray's session directory, where our logs are not. Its older
# output, which verbose=0 silences, instead: our ProgressLine and summary say it all.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


def make_tuner(
    config: AlgorithmConfig,
    args: argparse.Namespace,
    sweep: dict | None,
    storage: str,
    name: str,
    resuming: bool,
    tracked: list | None = None,
) -> tune.Tuner:
    """A Tuner for ``config`` (or, with ``sweep``, its search space: a sweep's grid, seeds
    or both), new or restored.

    ``tracked``: Tune callbacks of ``--track``; a restored Tuner keeps those it started with.
    """
    param_space = apply_settings(config, sweep) if sweep else config
    trainable = config.algo_class
    if resuming:
        path = experiment_dir(storage, name) if is_remote(storage) else str(Path(storage, name))
        if not is_remote(storage):
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
        stop=StopRule(args),
        verbose=0,
        # Tune's reporter for a terminal, which verbose=0 silences; in a notebook Tune would
        # pick its Jupyter one, which leaves an empty output of its own beside ProgressLine's.
        progress_reporter=tune.CLIReporter(),
        callbacks=[
            ProgressLine(args.stop_return, args.max_failures),
            VideoPathsToTensorBoard(),
            *(tracked or []),
        ],
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
        num_samples=args.num_samples if args.sweep else 1,
        # Trials side by side get one CPU each (runner/connect.py caps torch's threads).
        max_concurrent_trials=max(1, int(ray.cluster_resources().get("CPU", 1))) if sweep else None,
        scheduler=_asha(args) if sweep and args.scheduler == "asha" else None,
    )
    return tune.Tuner(
        trainable, param_space=param_space, run_config=run_config, tune_config=tune_config
    )


def _asha(args: argparse.Namespace) -> tune.schedulers.TrialScheduler:
    """ASHA: at 1/9 and 1/3 of the step budget, only the best third of trials go on."""
    return tune.schedulers.ASHAScheduler(
        time_attr=NUM_ENV_STEPS_SAMPLED_LIFETIME,
        metric=RETURN_METRIC,
        mode="max",
        max_t=args.max_timesteps,
        grace_period=max(1, args.max_timesteps // 9),
        reduction_factor=3,
    )


def fit(tuner: tune.Tuner) -> tuple[tune.ResultGrid, int | None]:
    """Run the Tuner; also say which signal ended it early: SIGINT (Ctrl-C), SIGTERM (what
    Slurm and Kubernetes send before they kill a process), or None.

    Tune catches the first SIGINT itself (saving the experiment for --resume) and then puts
    back the handler it found, so finding our handler back in place means Ctrl-C was pressed.
    SIGTERM is turned into that same SIGINT, so it saves and stops the same way.
    """
    # Tune installs its handler only from the main thread, and not when told not to.
    watched = threading.current_thread() is threading.main_thread() and (
        os.environ.get("TUNE_DISABLE_SIGINT_HANDLER") != "1"
    )
    if not watched:
        return tuner.fit(), None
    terminated = []

    def on_sigterm(signum, frame) -> None:
        terminated.append(signum)
        os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    before_term = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        grid = tuner.fit()
    finally:
        signal.signal(signal.SIGTERM, before_term)
    interrupted = signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, before)  # Tune leaves its handler installed otherwise
    if not interrupted:
        return grid, None
    return grid, signal.SIGTERM if terminated else signal.SIGINT


def check_gpus(args: argparse.Namespace) -> None:
    """Refuse a trial that asks for more GPUs than the cluster has: Tune would wait for them
    forever. Each remote learner takes ``--gpus``; with none, the trial's own process does."""
    have = ray.cluster_resources().get("GPU", 0)
    need = args.gpus * max(1, args.learners)
    if need <= have:
        return
    if args.learners > 1:
        raise UsageError(
            f"--learners {args.learners} × --gpus {args.gpus:g} = {need:g} GPUs asked for, but "
            f"this Ray cluster has {have:g}; lower --learners or --gpus"
        )
    raise UsageError(
        f"--gpus {args.gpus:g} asked for, but this Ray cluster has {have:g} GPUs; drop --gpus"
    )


def check_cpus(config: AlgorithmConfig) -> None:
    """Refuse a trial that needs more CPUs than the cluster has: Tune would keep it pending
    forever, printing "insufficient resources" warnings."""
    request = config.algo_class.default_resource_request(config)
    need = request.required_resources.get("CPU", 0)
    have = ray.cluster_resources().get("CPU", 0)
    if need <= have:
        return
    raise UsageError(
        f"one trial needs {need:g} CPUs (its own process {config.num_cpus_for_main_process:g}, "
        f"{config.num_env_runners} env runners, {config.evaluation_num_env_runners} evaluation "
        f"runners, {config.num_learners} learners), but this Ray cluster has {have:g}; lower "
        "--env-runners, --eval-runners or --learners"
    )
