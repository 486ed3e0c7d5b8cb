"""A convolutional policy and value network for stacked Atari frames, as an RLlib RLModule.

By default the network of the first DQN paper (Mnih et al. 2013: 16 8×8 filters of stride
4, 32 4×4 of stride 2, 256 hidden units shared by the policy and the value head), here on
64×64 frames: a PPO minibatch costs about a quarter of RLlib's atari_ppo network on a CPU
(benchmarks/RESULTS.md, "Pong PPO"). It takes the frames as ``pong-vector`` gives them,
uint8 (height, width, stack), so observations cross RLlib's pipeline at a quarter of
float32's size, and that layout is already torch's channels_last, which oneDNN convolves
faster on a CPU: a minibatch costs one conversion to float and no transpose.

``model_config``: ``conv_filters`` (filters, kernel, stride, padding per layer),
``head_fcnet_hiddens`` (one hidden layer; [256]), ``channels_last`` (True).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

DQN_2013_FILTERS = [[16, 8, 4, 0], [32, 4, 2, 0]]


class AtariCNN(TorchRLModule, ValueFunctionAPI):
    """Policy logits and state value from a stack of uint8 frames."""

    def setup(self) -> None:
        height, width, stack = self.observation_space.shape
        self.channels_last = bool(self.model_config.get("channels_last", True))
        layers: list[nn.Module] = []
        channels = stack
        for filters, kernel, stride, padding in (
            self.model_config.get("conv_filters") or DQN_2013_FILTERS
        ):
            layers += [nn.Conv2d(channels, filters, kernel, stride, padding), nn.ReLU()]
            channels = filters
        convolutions = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            flat = convolutions(torch.zeros(1, stack, height, width)).shape[1]
        [hidden] = self.model_config.get("head_fcnet_hiddens") or [256]
        self._trunk = nn.Sequential(convolutions, nn.Linear(flat, hidden), nn.ReLU())
        self._pi = nn.Linear(hidden, self.action_space.n)
        self._vf = nn.Linear(hidden, 1)
        # Orthogonal weights, as CleanRL initialises PPO: features that vary with the frame
        # from the first step (torch's default init shrinks them ~40× more), a near-uniform
        # first policy and a small first value.
        for layer in self._trunk.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(layer.weight, nn.init.calculate_gain("relu"))
                nn.init.zeros_(layer.bias)
        for layer, gain in ((self._pi, 0.01), (self._vf, 1.0)):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)
        if self.channels_last:
            self._trunk.to(memory_format=torch.channels_last)

    def _features(self, batch: dict[str, Any]) -> torch.Tensor:
        frames = batch[Columns.OBS].permute(0, 3, 1, 2)  # (N, C, H, W), channels_last strides
        scale = 1 / 255 if frames.dtype == torch.uint8 else 1.0
        frames = torch.mul(frames, scale)  # float32, in the layout it came in
        return self._trunk(frames if self.channels_last else frames.contiguous())

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self._pi(self._features(batch))}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features = self._features(batch)
        return {Columns.ACTION_DIST_INPUTS: self._pi(features), Columns.EMBEDDINGS: features}

    def compute_values(
        self, batch: dict[str, Any], embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        if embeddings is None:
            embeddings = self._features(batch)
        return self._vf(embeddings).squeeze(-1)
