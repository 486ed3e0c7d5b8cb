"""How the command line becomes the AlgorithmConfig a trial trains with.

``apply_args`` copies the script's config and applies the scale flags, ``--config`` and
``--lr``, evaluation and video, our callbacks, then checks the result, so that a bad value
is one line before any Ray starts. ``apply_settings`` is the one way a dict of settings
reaches a config: ``--config``, ``--smoke``'s settings and a sweep's search space.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import math
from functools import partial
from typing import Any

from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils import force_list
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

import envs
from callbacks import EpisodeReturnWindow, EvalVideo, FinalEvaluation, ReleaseEpisodeMemory
from callbacks.episode_returns import solved
from callbacks.greedy_returns import GreedyReturns
from callbacks.learner_threads import LearnerThreads, bundle_cpus
from callbacks.one_episode_per_env import OneEpisodePerEnv
from runner.cli import SMOKE_ITERATIONS, check_lr
from suite.errors import UsageError

MODEL_KEYS = {field.name for field in dataclasses.fields(DefaultModelConfig)}
# Flags whose default comes from these settings: --smoke's value wins where the user left them.
_FLAG_OF_SETTING = {
    "num_env_runners": "env_runners",
    "num_envs_per_env_runner": "envs_per_runner",
    "num_learners": "learners",
}


class StopRule(tune.Stopper):
    """When a trial stops: solved (``callbacks.episode_returns.solved``), or out of its step,
    time or ``--smoke`` iteration budget. Tune's stopper, and ``FinalEvaluation``'s test."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.goal = args.stop_return
        self.budgets = {
            NUM_ENV_STEPS_SAMPLED_LIFETIME: args.max_timesteps,
            "time_total_s": args.max_time,
            "training_iteration": SMOKE_ITERATIONS if args.smoke else None,
        }

    def reached(self, result: dict) -> bool:
        return solved(result, self.goal) or any(
            limit and result.get(key, 0) >= limit for key, limit in self.budgets.items()
        )

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.reached(result)

    def stop_all(self) -> bool:
        return False


def apply_smoke(
    config: AlgorithmConfig, args: argparse.Namespace, defaults: argparse.Namespace, smoke: dict
) -> AlgorithmConfig:
    """``config`` with the script's ``--smoke`` settings; scale flags left at their
    ``defaults`` follow them."""
    config = apply_settings(config, smoke)
    for key, flag in _FLAG_OF_SETTING.items():
        if key in smoke and getattr(args, flag) == getattr(defaults, flag):
            setattr(args, flag, smoke[key])
    return config


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
    overrides = dict(_parse_setting(item) for item in args.config)
    if args.lr is not None:
        overrides["lr"] = args.lr
    config = apply_settings(config, overrides)
    add_callbacks(config, ReleaseEpisodeMemory)  # flat memory, however long the episodes
    _apply_evaluation(config, args)
    if not args.sweep:
        use_learner_threads(config)
    check_config(config)
    return config


def apply_settings(config: AlgorithmConfig, settings: dict[str, Any]) -> AlgorithmConfig:
    """A copy of ``config`` with ``settings``: model keys into its model_config, the others as
    its attributes (values or Tune search spaces); ``UsageError`` names an unknown key."""
    config = config.copy(copy_frozen=False)
    model = model_config(config)
    for key, value in settings.items():
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
    return config


def model_config(config: AlgorithmConfig) -> dict:
    model = config.model_config
    return dataclasses.asdict(model) if dataclasses.is_dataclass(model) else dict(model or {})


def _parse_setting(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from ``--config``: the value as a Python literal, or a bare word."""
    key, sep, text = item.partition("=")
    if not sep:
        raise UsageError(f"--config takes KEY=VALUE, got {item!r}")
    try:
        return key.strip(), ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return key.strip(), text.strip()  # a bare word such as relu


def add_callbacks(config: AlgorithmConfig, *callbacks: Any) -> None:
    """Add ``callbacks`` after the config's own (RLlib's do-nothing default dropped)."""
    own = [c for c in force_list(config.callbacks_class) if c is not RLlibCallback]
    config.callbacks([*own, *callbacks])


def use_learner_threads(config: AlgorithmConfig) -> None:
    """The local learner uses a torch thread for every CPU its trial reserves (one trial
    alone; see callbacks/learner_threads.py)."""
    threads = bundle_cpus(config)
    if threads > 1:
        add_callbacks(config, partial(LearnerThreads, threads=threads))


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
            # One env per episode of the round (RLlib shares the K episodes out between
            # the runners): they play side by side, so a round takes about one episode's
            # time, and OneEpisodePerEnv keeps each env to its one episode.
            evaluation_config={
                **(config.evaluation_config or {}),
                "num_envs_per_env_runner": math.ceil(episodes / max(1, args.eval_runners)),
                "explore": False,
            },
        )
        callbacks += [
            OneEpisodePerEnv,
            GreedyReturns,
            partial(FinalEvaluation, stop=StopRule(args)),
        ]
        if args.video:
            display = "always" if args.virtual_display else "auto"
            callbacks.append(
                partial(EvalVideo, episodes=args.video_episodes, virtual_display=display)
            )
    else:
        config.evaluation(evaluation_interval=None)
    add_callbacks(config, *callbacks)


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


def remote_actors(config: AlgorithmConfig) -> int:
    """Actors a trial starts besides its own: env runners, evaluation runners, learners."""
    return config.num_env_runners + config.evaluation_num_env_runners + config.num_learners
