"""RLlib's PPO learner, with a cheaper optimizer step for small networks on a CPU."""

from __future__ import annotations

import logging
from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

logger = logging.getLogger(__name__)


def fused_adam(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam that updates every parameter in one kernel, where this torch has it for the
    parameters' device (CPU from torch 2.4), else in one loop over them all."""
    try:
        return torch.optim.Adam(params, fused=True)
    except RuntimeError:  # torch < 2.4 on a CPU
        return torch.optim.Adam(params, foreach=True)


class FusedAdamPPOLearner(PPOTorchLearner):
    """PPO's learner with Adam fused into one kernel, and one check of all gradients for nan
    and inf before each step (a step with any is skipped). Adam's loop over the parameters
    and RLlib's checks took 15 % of a Pong PPO iteration on a CPU (benchmarks/HISTORY.md,
    "Pong PPO").

    Set ``config.framework(torch_skip_nan_gradients=True)`` with it: RLlib then skips the step
    itself, as documented, rather than checking each parameter's gradient on its own, twice a
    step, each check a wait for its result (RLlib 2.60 checks none when the flag is set).
    """

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        params = self.get_parameters(self._module[module_id])
        self.register_optimizer(
            module_id=module_id,
            optimizer=fused_adam(params),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    def apply_gradients(self, gradients_dict: dict[Any, torch.Tensor]) -> None:
        gradients = [g.reshape(-1) for g in gradients_dict.values()]
        if gradients and not torch.isfinite(torch.cat(gradients)).all():
            logger.warning("Skipping this update: its gradients hold nan or inf.")
            return
        super().apply_gradients(gradients_dict)
