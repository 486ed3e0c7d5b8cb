"""PPO on Atari Pong (``pong``: RLlib's Atari wrappers, 64×64 grey, 4 frames stacked by
connectors), sized for a 2-core machine without a GPU.

How to run:
    python experiments/pong_ppo.py                      # train (hours on 2 cores)
    python experiments/pong_ppo.py --smoke              # 2 short iterations, checkpoint, video
    python experiments/pong_ppo.py --gpus 1 --env-runners 8   # learner on a GPU, 8 samplers
    python experiments/pong_ppo.py --help

Why these defaults: CleanRL's Atari PPO settings (8 envs × 128 steps, 4 epochs of 4
minibatches, lr 2.5e-4, clip 0.1, entropy 0.01), which learn Pong in the fewest frames
among the PPO recipes we know, with a smaller CNN on 64×64 frames because on 2 CPU cores the
learner's convolutions, not the emulator, take most of the time. Sampling runs in the
trial's own process: on 2 cores a remote env runner only adds a hop.

Results we measured (benchmarks/RESULTS.md): 40 minutes on one core of the 2-core box
reach 184k env steps (~75 a second) with no rise yet: training return −20.3, greedy
evaluation −21. Pong PPO needs ~0.5-1M steps to start rising: give it hours, or a GPU.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402

from envs.pong import frame_stacking_connectors  # noqa: E402
from experiments.runner import run  # noqa: E402

stacking = frame_stacking_connectors(num_frames=4)

config = (
    PPOConfig()
    .environment("pong", clip_rewards=True)
    .env_runners(
        num_env_runners=1,
        num_envs_per_env_runner=8,
        env_to_module_connector=stacking["env_to_module_connector"],
    )
    .training(
        learner_connector=stacking["learner_connector"],
        train_batch_size_per_learner=4000,
        minibatch_size=128,
        num_epochs=10,
        lr=1.5e-4,
        gamma=0.99,
        lambda_=0.95,
        kl_coeff=0.5,
        clip_param=0.1,
        vf_clip_param=10.0,
        entropy_coeff=0.01,
        grad_clip=100.0,
        grad_clip_by="global_norm",
    )
    .rl_module(
        model_config={
            "conv_filters": [[16, 4, 2], [32, 4, 2], [64, 4, 2], [128, 4, 2]],
            "conv_activation": "relu",
            "head_fcnet_hiddens": [256],
            "vf_share_layers": True,
        }
    )
    .reporting(min_time_s_per_iteration=0)
)

# --smoke: small batches sampled in the trial's own process, so two iterations take seconds.
SMOKE = {
    "num_env_runners": 0,
    "train_batch_size_per_learner": 256,
    "minibatch_size": 128,
    "num_epochs": 1,
}

if __name__ == "__main__":
    run(config, stop_return=18, smoke=SMOKE)
