"""RLlib's PPO learner, with a cheaper optimizer step for small networks on a CPU."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

logger = logging.getLogger(__name__)


def fused_adam(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam that updates every parameter in one kernel, where this torch has it for the
    parameters' device (CPU from torch 2.4), else in one loop over them all. ε is 1e-5, as
    CleanRL's and OpenAI Baselines' PPO have it, not torch's 1e-8."""
    try:
        return torch.optim.Adam(params, eps=1e-5, fused=True)
    except RuntimeError:  # torch < 2.4 on a CPU
        return torch.optim.Adam(params, eps=1e-5, foreach=True)


class FusedAdamPPOLearner(PPOTorchLearner):
    """PPO's learner with Adam fused into one kernel, and the gradients' global norm computed
    once a step, both to clip them and to skip the step when any is nan or inf. Adam's loop
    over the parameters and RLlib's per-parameter checks took 15 % of a Pong PPO iteration on
    a CPU; with Adam fused, a check of all gradients at once and RLlib's clipping still took
    12 % with the step, one norm 6 % (benchmarks/HISTORY.md, "Pong PPO").

    Set ``config.framework(torch_skip_nan_gradients=True)`` with it: RLlib then skips the step
    itself, as documented, rather than checking each parameter's gradient on its own, twice a
    step, each check a wait for its result (RLlib 2.60 checks none when the flag is set).
    """

    def build(self) -> None:
        super().build()
        self._nonfinite: set[str] = set()  # modules whose gradients this step hold nan/inf

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        params = self.get_parameters(self._module[module_id])
        self.register_optimizer(
            module_id=module_id,
            optimizer=fused_adam(params),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    def postprocess_gradients_for_module(
        self, *, module_id: str, config: Any = None, module_gradients_dict: dict
    ) -> dict:
        by_global_norm = config.grad_clip is not None and config.grad_clip_by == "global_norm"
        if config.grad_clip is not None and not by_global_norm:
            module_gradients_dict = super().postprocess_gradients_for_module(
                module_id=module_id, config=config, module_gradients_dict=module_gradients_dict
            )
        gradients = list(module_gradients_dict.values())
        norms = [torch.linalg.vector_norm(g) for g in gradients]
        norm = float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
        if not math.isfinite(norm):  # nan and inf carry through the norm
            self._nonfinite.add(module_id)
        elif by_global_norm:
            if norm > config.grad_clip:  # as RLlib's clip_gradients
                for gradient in gradients:
                    gradient.mul_(config.grad_clip / (norm + 1e-6))
            key = (module_id, "gradients_default_optimizer_global_norm")
            self.metrics.log_value(key=key, value=norm, window=1)
        return module_gradients_dict

    def apply_gradients(self, gradients_dict: dict[Any, torch.Tensor]) -> None:
        if self._nonfinite:
            logger.warning("Skipping this update: its gradients hold nan or inf.")
            self._nonfinite.clear()
            return
        super().apply_gradients(gradients_dict)
