"""The command line every experiment script shares, and the checks that need no RLlib.

Light on purpose (argparse, gymnasium's registry): ``start_local_ray_early`` parses and checks
the command line with it before the script imports RLlib; runner/settings.py does the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

import envs
from callbacks.tracking_servers import TRACKERS, check_tracker
from runner.experiment import Experiment
from suite.errors import UsageError

SMOKE_ITERATIONS = 2
DEFAULT_EVAL_INTERVAL = 20  # where the script's config sets no evaluation_interval


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(self.prog, message)


class _QuietParser(_Parser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message} (see --help)", file=sys.stderr)
    raise SystemExit(2)


def build_parser(
    prog: str, experiment: Experiment | None = None, *, quiet: bool = False
) -> argparse.ArgumentParser:
    """The command line every experiment script shares.

    ``experiment``: the script's ``Experiment``: its config's values are the defaults of the
    scale flags, ``--env`` and ``--eval-interval``, its stop return ``--stop-return``'s, and
    ``--help`` names its presets; without it those default to None (``start_local_ray_early``
    parses the command line before RLlib is imported). ``quiet``: errors raise
    ``UsageError`` instead of printing and exiting.
    """
    config = experiment.config if experiment else None
    stop_return = experiment.stop_return if experiment else None
    presets = ", ".join(experiment.presets) if experiment and experiment.presets else "none"
    parser = (_QuietParser if quiet else _Parser)(
        prog=prog,
        description="Train with Ray Tune + RLlib; results, checkpoints and videos go to --storage.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    scale = parser.add_argument_group("scale")
    scale.add_argument(
        "--env-runners",
        type=int,
        default=_default(config, "num_env_runners"),
        help="remote env runner actors (0: sample in the trial's own process)",
    )
    scale.add_argument(
        "--envs-per-runner",
        type=int,
        default=_default(config, "num_envs_per_env_runner"),
        help="vectorised envs in each env runner",
    )
    scale.add_argument(
        "--learners",
        type=int,
        default=_default(config, "num_learners"),
        help="remote learner actors (0: learn in the trial's own process)",
    )
    scale.add_argument(
        "--gpus",
        type=float,
        default=_default(config, "num_gpus_per_learner"),
        help="GPUs per learner (a fraction shares one GPU)",
    )
    stop = parser.add_argument_group("training and stopping")
    stop.add_argument("--env", default=_default(config, "env"), help="gymnasium env id")
    stop.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the script's)"
    )
    stop.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help=f"train one of the script's named configs instead of its default (this script's: "
        f"{presets}; see its docstring)",
    )
    stop.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any AlgorithmConfig attribute, e.g. --config num_epochs=5",
    )
    stop.add_argument(
        "--stop-return",
        type=float,
        default=stop_return,
        help="stop when the mean return of the last 100 training episodes reaches this",
    )
    stop.add_argument(
        "--max-timesteps", type=int, default=None, help="stop after this many env steps"
    )
    stop.add_argument(
        "--max-time", type=float, default=None, help="stop a trial after this many seconds"
    )
    stop.add_argument(
        "--seed", type=int, default=None, help="random seed (with --seeds: the first; default 0)"
    )
    stop.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train N trials of this config, seeds --seed, --seed+1, …, side by side where the "
        "CPUs allow; the summary and report give each seed and the IQM with its 95%% CI",
    )
    stop.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick check: {SMOKE_ITERATIONS} iterations, then checkpoint and summary",
    )
    video = parser.add_argument_group("evaluation and video")
    video.add_argument(
        "--eval-interval",
        type=int,
        default=_default(config, "evaluation_interval") or DEFAULT_EVAL_INTERVAL,
        help="evaluate every N iterations, and once at the end (0: never)",
    )
    video.add_argument(
        "--eval-runners",
        type=int,
        default=_default(config, "evaluation_num_env_runners"),
        help="evaluation env runner actors, evaluating beside training "
        "(0: evaluate in the trial's own process, between iterations)",
    )
    video.add_argument(
        "--eval-episodes",
        type=int,
        default=_eval_episodes(config),
        help="greedy episodes per evaluation round, played side by side, one per env; the "
        "greedy figure is their mean ± its standard error",
    )
    video.add_argument(
        "--video",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="record evaluation episodes to MP4 in the trial's videos/",
    )
    video.add_argument(
        "--video-episodes",
        type=int,
        default=1,
        help="record the first K episodes of each evaluation round",
    )
    video.add_argument(
        "--virtual-display",
        action="store_true",
        help="always render inside a virtual display (Xvfb); by default one "
        "starts only when rendering fails without a DISPLAY",
    )
    out = parser.add_argument_group("results")
    out.add_argument("--storage", default="./results", help="where experiments are written")
    out.add_argument("--name", default=None, help="experiment name (default: script name + time)")
    out.add_argument(
        "--resume",
        action="store_true",
        help="continue --name (default: this script's newest experiment)",
    )
    out.add_argument(
        "--keep-checkpoints",
        type=int,
        default=3,
        help="keep the best N checkpoints by return (plus the latest)",
    )
    out.add_argument(
        "--checkpoint-every", type=int, default=10, help="checkpoint every N iterations"
    )
    out.add_argument("--max-failures", type=int, default=0, help="retry a failed trial N times")
    out.add_argument(
        "--track",
        action="append",
        choices=TRACKERS,
        default=[],
        help="also send each trial's metrics and videos to Weights & Biases or MLflow "
        "(repeatable; docs/tracking.md)",
    )
    out.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after training, restore the best checkpoint, evaluate it and write report.html "
        "(what python -m analysis does; default: on)",
    )
    out.add_argument(
        "--report-episodes",
        type=int,
        default=5,
        help="greedy episodes the restored best checkpoint plays for the report (default 5)",
    )
    ray_group = parser.add_argument_group("ray")
    ray_group.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS"),
        help="Ray cluster to join (default: $RAY_ADDRESS, else a new local Ray)",
    )
    ray_group.add_argument(
        "--dashboard",
        action="store_true",
        help="start Ray's dashboard (local Ray only; on 127.0.0.1)",
    )
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--sweep", action="store_true", help="run the script's hyperparameter grid")
    sweep.add_argument("--num-samples", type=int, default=5, help="repeat the grid this many times")
    sweep.add_argument(
        "--scheduler",
        choices=["fifo", "asha"],
        default="fifo",
        help="fifo: every trial runs to its stop rule; asha: Tune's ASHA stops the "
        "worst trials early (by return, at 1/9, 1/3 of the step budget)",
    )
    return parser


def _default(config: Any, attr: str) -> Any:
    return None if config is None else getattr(config, attr)


def _eval_episodes(config: Any) -> int | None:
    """The script's evaluation_duration when it counts episodes (RLlib's default: 10)."""
    if config is None:
        return None
    duration = config.evaluation_duration
    counts_episodes = config.evaluation_duration_unit == "episodes"
    return duration if counts_episodes and isinstance(duration, int) else 1


_AT_LEAST = {
    "env_runners": 0,
    "envs_per_runner": 1,
    "learners": 0,
    "num_samples": 1,
    "seeds": 1,
    "keep_checkpoints": 1,
    "checkpoint_every": 1,
    "max_failures": 0,
    "eval_interval": 0,
    "eval_runners": 0,
    "eval_episodes": 1,
    "video_episodes": 1,
    "report_episodes": 0,
}


def check_args(args: argparse.Namespace) -> None:
    """Reject values that are wrong whatever the script's config; ``UsageError`` if any."""
    for name, least in _AT_LEAST.items():
        value = getattr(args, name)
        if value is not None and value < least:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be ≥ {least}, got {value}")
    if args.gpus is not None and args.gpus < 0:
        raise UsageError(f"--gpus must be ≥ 0, got {args.gpus}")
    if (args.learners or 0) >= 2 and (args.gpus or 0) % 1:
        # Ray packs fractions onto one GPU, and torch's NCCL backend then refuses the second
        # learner ("Duplicate GPU detected"; seen on an H100, benchmarks/HISTORY.md).
        raise UsageError(
            f"--gpus {args.gpus:g} with --learners {args.learners}: learners that share a GPU "
            f"cannot train together (NCCL refuses); give each a whole GPU (--gpus 1) or "
            f"learn in one (--learners 1)"
        )
    for name in ("max_timesteps", "max_time"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if args.lr is not None:
        check_lr(args.lr)
    if args.scheduler == "asha" and not args.sweep:
        raise UsageError("--scheduler asha needs --sweep (it chooses between trials)")
    for tool in args.track:
        check_tracker(tool)
    if args.env is not None:
        try:
            envs.check_env_id(args.env)
        except ValueError as err:
            raise UsageError(str(err)) from None


def check_lr(lr: Any) -> None:
    if isinstance(lr, (int, float)) and lr <= 0:
        raise UsageError(f"lr must be > 0, got {lr}")
