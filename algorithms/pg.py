"""Vanilla policy gradient (REINFORCE) on RLlib's new API stack: config, algorithm, learner.

RLlib removed PG in 2.8/2.9; this is its textbook form, in the shape of RLlib's own VPG
example (``examples/algorithms/classes/vpg.py``), with what the Pong-from-pixels tutorial
needs on top. One training step:

1. sample until ``episodes_per_batch`` episodes have completed (the env runners play on
   continuously: an episode cut between two calls is trained as its consecutive pieces,
   none is thrown away);
2. for every step t, the reward-to-go  G_t = r_t + γ·G_{t+1}  (with ``reset_on_reward``,
   the running return restarts at every non-zero reward: each Pong point is its own game);
3. standardise G over the batch (or per episode, as the tutorial did);
4. one gradient step on  L = −mean(log π(a_t|s_t) · A_t),  A_t = G_t, or G_t − V(s_t) with
   the optional learned baseline (then + vf_loss_coeff · mean((V(s_t) − G_t)²));
5. send the new weights to the env runners.

The policy network is RLlib's default PPO RLModule (MLP or CNN from ``model_config``), taking
integer observations as floats; its value head is trained only when ``use_baseline`` is on.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

OPTIMIZERS = ("adam", "rmsprop", "sgd")
STEPS_PER_ENV_PER_CALL = 100  # a call's overhead is small beside it; a batch overshoots little
STANDARDIZE = ("batch", "episode", "none")


def discounted_returns(
    rewards: np.ndarray, gamma: float, reset_on_reward: bool = False
) -> np.ndarray:
    """G_t = r_t + γ·G_{t+1}, computed backwards; with ``reset_on_reward`` G restarts at 0
    after every non-zero reward (Karpathy's Pong: each point is scored on its own)."""
    returns = np.zeros(len(rewards), dtype=np.float32)
    running = 0.0
    for t in reversed(range(len(rewards))):
        if reset_on_reward and rewards[t] != 0:
            running = 0.0
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def standardized(values: np.ndarray) -> np.ndarray:
    """(x − mean) / std, left centred only when all values are equal."""
    centred = values - values.mean()
    std = values.std()
    return centred / std if std > 1e-8 else centred


class PGConfig(AlgorithmConfig):
    """Settings of vanilla policy gradient; see ``training()`` for what each one does."""

    def __init__(self, algo_class=None) -> None:
        super().__init__(algo_class=algo_class or PG)
        self.episodes_per_batch = 10
        self.reset_on_reward = False
        self.standardize = "batch"
        self.use_baseline = False
        self.vf_loss_coeff = 0.5
        self.entropy_coeff = 0.0
        self.optimizer = "adam"
        self.rmsprop_decay = 0.99
        self.lr = 1e-3
        self.gamma = 0.99
        self.batch_mode = "complete_episodes"
        self.num_env_runners = 0

    def training(
        self,
        *,
        episodes_per_batch: int = NotProvided,
        reset_on_reward: bool = NotProvided,
        standardize: str = NotProvided,
        use_baseline: bool = NotProvided,
        vf_loss_coeff: float = NotProvided,
        entropy_coeff: float = NotProvided,
        optimizer: str = NotProvided,
        rmsprop_decay: float = NotProvided,
        **kwargs: Any,
    ) -> PGConfig:
        """PG's settings, plus AlgorithmConfig's (``lr``, ``gamma``, ``grad_clip``, ...).

        Args:
            episodes_per_batch: complete episodes per gradient step (split over runners).
            reset_on_reward: restart the running return at every non-zero reward.
            standardize: "batch" (default), "episode" (the Pong tutorial) or "none".
            use_baseline: learn V(s) and use G − V(s) as the advantage.
            vf_loss_coeff: weight of the baseline's squared error.
            entropy_coeff: weight of the entropy bonus.
            optimizer: "adam", "rmsprop" (the Pong tutorial) or "sgd".
            rmsprop_decay: RMSProp's moving-average decay (its ``alpha``).
        """
        super().training(**kwargs)
        for name, value in (
            ("episodes_per_batch", episodes_per_batch),
            ("reset_on_reward", reset_on_reward),
            ("standardize", standardize),
            ("use_baseline", use_baseline),
            ("vf_loss_coeff", vf_loss_coeff),
            ("entropy_coeff", entropy_coeff),
            ("optimizer", optimizer),
            ("rmsprop_decay", rmsprop_decay),
        ):
            if value is not NotProvided:
                setattr(self, name, value)
        return self

    def validate(self) -> None:
        super().validate()
        if self.optimizer not in OPTIMIZERS:
            self._value_error(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.standardize not in STANDARDIZE:
            self._value_error(f"standardize must be one of {STANDARDIZE}, got {self.standardize!r}")
        if self.episodes_per_batch < max(1, self.num_env_runners):
            self._value_error(
                f"episodes_per_batch ({self.episodes_per_batch}) must be at least the number "
                f"of env runners ({self.num_env_runners}) and ≥ 1"
            )

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=PGTorchRLModule)

    def get_default_learner_class(self):
        return PGTorchLearner


def _float_observations(batch: dict[str, Any]) -> dict[str, Any]:
    obs = batch[Columns.OBS]
    return batch if obs.is_floating_point() else {**batch, Columns.OBS: obs.float()}


class PGTorchRLModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO module, which also takes integer observations, as floats (Pong's
    int8 difference frames: a quarter of float32's bytes in every episode kept until it ends)."""

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return super()._forward(_float_observations(batch), **kwargs)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return super()._forward_train(_float_observations(batch), **kwargs)

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return super().compute_values(_float_observations(batch), embeddings)


class PG(Algorithm):
    """Vanilla policy gradient: whole episodes in, one gradient step, weights out."""

    @classmethod
    def get_default_config(cls) -> PGConfig:
        return PGConfig()

    def setup(self, config: Any) -> None:
        super().setup(config)
        self._unfinished: dict[str, Any] = {}  # episodes the env runners are still playing

    def training_step(self) -> None:
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, runner_metrics = self._sample_episodes()
        self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            learner_results = self.learner_group.update(
                episodes=episodes,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0
                    ),
                },
            )
        self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group, inference_only=True
            )

    def _sample_episodes(self) -> tuple[list, list]:
        """The pieces of at least ``episodes_per_batch`` complete episodes, and the runners'
        metrics.

        The env runners sample steps, not episodes, and keep their envs' episodes going from
        one call to the next; an episode cut at the end of a call comes back in pieces, kept
        here until its last one arrives and then returned as its consecutive pieces (an
        episode that spans an update was begun by the previous weights). Sampling whole
        episodes instead resets every env at each call, and what the envs that finished
        first played meanwhile is lost: 37 % of Pong's steps. The pieces are not joined:
        each join would copy the episode so far, a cost that grows with its length squared.
        """
        runners = self.env_runner_group.num_remote_workers()
        steps = STEPS_PER_ENV_PER_CALL * self.config.num_envs_per_env_runner
        done, metrics, num_done = [], [], 0
        while num_done < self.config.episodes_per_batch:
            sampled = self.env_runner_group.foreach_env_runner(
                lambda runner: (runner.sample(num_timesteps=steps), runner.get_metrics()),
                local_env_runner=runners <= 0,
            )
            unfinished = {}  # kept only if continued: a restarted runner's pieces are dropped
            for pieces, runner_metrics in sampled:
                metrics.append(runner_metrics)
                for piece in pieces:
                    episode = self._unfinished.pop(piece.id_, []) + [piece]
                    if piece.is_done:
                        done += episode
                        num_done += 1
                    else:
                        unfinished[piece.id_] = episode
            self._unfinished = unfinished
        return done, metrics


class DiscountedReturns(ConnectorV2):
    """Learner connector: the standardised reward-to-go of every step, as RETURNS_TO_GO."""

    def __init__(
        self,
        input_observation_space=None,
        input_action_space=None,
        *,
        gamma: float,
        reset_on_reward: bool,
        standardize: str,
    ) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.gamma = gamma
        self.reset_on_reward = reset_on_reward
        self.standardize = standardize

    def __call__(self, *, rl_module, episodes, batch: dict[str, Any], **kwargs: Any):
        pieces = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        if not pieces:
            return batch
        # An episode comes as consecutive pieces (PG._sample_episodes): its return runs across them.
        whole = [list(group) for _, group in itertools.groupby(pieces, key=lambda p: p.id_)]
        returns = [
            discounted_returns(
                np.concatenate([piece.get_rewards() for piece in episode]).astype(np.float32),
                self.gamma,
                self.reset_on_reward,
            )
            for episode in whole
        ]
        if self.standardize == "episode":
            returns = [standardized(r) for r in returns]
        joined = np.concatenate(returns)
        if self.standardize == "batch":
            joined = standardized(joined)
        piece_returns = np.split(joined, np.cumsum([len(piece) for piece in pieces])[:-1])
        for piece, returns_of_piece in zip(pieces, piece_returns, strict=True):
            self.add_n_batch_items(
                batch=batch,
                column=Columns.RETURNS_TO_GO,
                items_to_add=returns_of_piece,
                num_items=len(piece),
                single_agent_episode=piece,
            )
        return batch


class PGTorchLearner(TorchLearner):
    """The loss of REINFORCE, with an optional baseline and entropy bonus."""

    def build(self) -> None:
        super().build()
        if self.config.add_default_connectors_to_learner_pipeline:
            self._learner_connector.prepend(
                DiscountedReturns(
                    gamma=self.config.gamma,
                    reset_on_reward=self.config.reset_on_reward,
                    standardize=self.config.standardize,
                )
            )

    def configure_optimizers_for_module(self, module_id, config: PGConfig = None) -> None:
        params = self.get_parameters(self._module[module_id])
        if config.optimizer == "rmsprop":
            optimizer = torch.optim.RMSprop(params, alpha=config.rmsprop_decay)
        elif config.optimizer == "sgd":
            optimizer = torch.optim.SGD(params)
        else:
            optimizer = torch.optim.Adam(params)
        self.register_optimizer(
            module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr
        )

    def compute_loss_for_module(
        self, *, module_id, config: PGConfig, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module = self.module[module_id].unwrapped()
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        log_probs = dist.logp(batch[Columns.ACTIONS])
        returns = batch[Columns.RETURNS_TO_GO]
        advantages = returns
        loss = torch.zeros((), device=returns.device)
        if config.use_baseline:
            values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
            advantages = returns - values.detach()
            vf_loss = torch.mean((values - returns) ** 2)
            loss = loss + config.vf_loss_coeff * vf_loss
            self.metrics.log_value((module_id, "vf_loss"), vf_loss, window=1)
        policy_loss = -torch.mean(log_probs * advantages)
        entropy = torch.mean(dist.entropy())
        loss = loss + policy_loss - config.entropy_coeff * entropy
        self.metrics.log_value((module_id, "policy_loss"), policy_loss, window=1)
        self.metrics.log_value((module_id, "entropy"), entropy, window=1)
        return loss
