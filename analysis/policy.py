"""Restore a trained policy from a checkpoint, with its connectors, and play episodes with it.

An RLlib checkpoint keeps the trained RLModule in its learner component and the EnvRunner's
env-to-module and module-to-env connectors (frame stacking, observation filters, action
scaling) in its EnvRunner component. Restoring only the RLModule drops the connectors and
silently evaluates the wrong thing (ray#44475), so we rebuild the evaluation EnvRunner the
experiment used, restore its connectors, then load the learner's weights into its module.
"""

from __future__ import annotations

import math
import pickle
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

import envs
from callbacks.eval_video import CLIPS, WARNINGS, EvalVideo

_RUNNER = "env_runner"  # the checkpoint component with the connectors
_MODULE = "learner_group/learner/rl_module"  # the trained weights, one folder per module


class RestoreError(Exception):
    """The checkpoint cannot be restored; the message says why in one line."""


@dataclass
class Episodes:
    """What a batch of evaluation episodes gave."""

    returns: list[float]
    lengths: list[int]

    @property
    def return_mean(self) -> float:
        return sum(self.returns) / len(self.returns)

    @property
    def return_std(self) -> float:
        return _std(self.returns)

    @property
    def length_mean(self) -> float:
        return sum(self.lengths) / len(self.lengths)

    @property
    def length_std(self) -> float:
        return _std(self.lengths)

    def __str__(self) -> str:
        return (
            f"return {self.return_mean:.1f} ± {self.return_std:.1f}, "
            f"length {self.length_mean:.0f} ± {self.length_std:.0f} "
            f"over {len(self.returns)} episodes"
        )


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def checkpoint_config(checkpoint: str | Path) -> AlgorithmConfig:
    """The AlgorithmConfig the checkpoint's EnvRunner was built with."""
    ctor_file = Path(checkpoint) / _RUNNER / "class_and_ctor_args.pkl"
    if not ctor_file.is_file():
        raise RestoreError(f"{checkpoint} is not a complete RLlib checkpoint (no {_RUNNER}/)")
    try:
        with open(ctor_file, "rb") as handle:
            ctor = pickle.load(handle)  # a checkpoint is a pickle: load only your own
        return ctor["ctor_args_and_kwargs"][1]["config"]
    except Exception as err:
        raise RestoreError(f"cannot read {ctor_file}: {type(err).__name__}: {err}") from None


class Policy:
    """A policy ready to play: an evaluation EnvRunner with one env, restored or fresh.

    ``Policy(checkpoint)`` restores the trained policy (module and connectors);
    ``Policy(checkpoint, restore=False)`` is the same network before training, for contrast;
    ``Policy(config)`` is a fresh network of an AlgorithmConfig (a "before" video).
    """

    def __init__(
        self,
        checkpoint: str | Path | AlgorithmConfig,
        *,
        restore: bool = True,
        video_episodes: int = 0,
        virtual_display: str = "auto",
    ) -> None:
        if isinstance(checkpoint, AlgorithmConfig):
            config, restore = checkpoint, False
        else:
            config = checkpoint_config(checkpoint)
        config = config.get_evaluation_config_object()
        config = config.copy(copy_frozen=False)
        config.env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        config.evaluation(evaluation_num_env_runners=0)
        callbacks = []
        if video_episodes:
            callbacks.append(
                partial(EvalVideo, episodes=video_episodes, virtual_display=virtual_display)
            )
        config.callbacks(callbacks)
        config.in_evaluation = True  # EvalVideo records evaluation episodes only
        if isinstance(config.env, str):
            envs.register_env(config.env)
        self.runner = SingleAgentEnvRunner(config=config)
        if restore:
            checkpoint = Path(checkpoint)
            modules = (
                sorted(p for p in (checkpoint / _MODULE).iterdir() if p.is_dir())
                if (checkpoint / _MODULE).is_dir()
                else []
            )
            if len(modules) != 1:
                raise RestoreError(
                    f"{checkpoint} holds {len(modules)} trained modules in {_MODULE}; expected 1"
                )
            try:
                self.runner.restore_from_path(checkpoint / _RUNNER)
                self.runner.module.restore_from_path(modules[0])
            except Exception as err:
                raise RestoreError(
                    f"cannot restore {checkpoint}: {type(err).__name__}: {err}"
                ) from None

    def play(self, episodes: int, *, explore: bool = False) -> Episodes:
        """Play whole episodes, greedy unless ``explore``; record the first K if asked."""
        done = self.runner.sample(num_episodes=episodes, explore=explore, force_reset=True)
        done = [episode for episode in done if episode.is_done][:episodes]
        return Episodes(
            returns=[float(episode.get_return()) for episode in done],
            lengths=[len(episode) for episode in done],
        )

    def videos(self) -> tuple[list[bytes], list[str]]:
        """The MP4s recorded since the last call, and the recording warnings."""
        metrics = MetricsLogger.peek_results(self.runner.get_metrics())
        clips = metrics.get(CLIPS) or []
        warnings = metrics.get(WARNINGS) or []
        return [clip["mp4"] for clip in clips], [str(w) for w in warnings]

    def stop(self) -> None:
        self.runner.stop()


def record(
    checkpoint: str | Path | AlgorithmConfig,
    out: str | Path,
    *,
    restore: bool = True,
    explore: bool = False,
    virtual_display: str = "auto",
) -> tuple[Episodes, list[str]]:
    """Play one episode and write its MP4 to ``out``; return the episode and any warnings."""
    policy = Policy(checkpoint, restore=restore, video_episodes=1, virtual_display=virtual_display)
    try:
        episodes = policy.play(1, explore=explore)
        clips, warnings = policy.videos()
    finally:
        policy.stop()
    if clips:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".mp4", delete=False) as tmp:
            tmp.write(clips[0])
        Path(tmp.name).chmod(0o644)
        Path(tmp.name).replace(out)
    return episodes, warnings
