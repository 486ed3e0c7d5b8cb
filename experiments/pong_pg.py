"""Vanilla policy gradient on Pong from pixels, in the setup of Karpathy's NumPy tutorial.

``pong-pixels``: 80×80 difference frames (crop, downsample ×2, erase the background,
binarise), actions UP and DOWN. A 200-unit hidden layer, RMSProp (lr 1e-4, decay 0.99),
batches of 10 episodes, γ 0.99 with the running return reset at every point, returns
standardised per episode. (The tutorial summed the gradients of a batch where we average
them; RMSProp divides by the gradient's running scale, so the same lr fits both.)

How to run:
    python experiments/pong_pg.py               # train (the tutorial took ~8,000 episodes)
    python experiments/pong_pg.py --smoke       # 2 small iterations, checkpoint, video
    python experiments/pong_pg.py --help

Results we measured (benchmarks/RESULTS.md): 40 minutes on one core of the 2-core box play
640 episodes (860k steps); the training return rises from −20.3 to −19.9, greedy evaluation
stays at −21. The tutorial beat the computer after ~8,000 episodes.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from runner import run  # noqa: E402 (first: the run's clock starts here, before RLlib's imports)

# isort: split

from algorithms.pg import PGConfig  # noqa: E402

config = (
    PGConfig()
    .environment("pong-pixels")
    # 10 envs play the batch's 10 episodes side by side: one forward pass for 10 actions.
    .env_runners(num_env_runners=0, num_envs_per_env_runner=10)
    .training(
        episodes_per_batch=10,
        lr=1e-4,
        optimizer="rmsprop",
        rmsprop_decay=0.99,
        gamma=0.99,
        reset_on_reward=True,
        standardize="episode",
        use_baseline=False,
    )
    .rl_module(model_config={"fcnet_hiddens": [200], "fcnet_activation": "relu"})
    .reporting(min_time_s_per_iteration=0)
)
STOP_RETURN = 18

# --smoke: batches of 2 episodes, so two iterations take seconds.
SMOKE = {"episodes_per_batch": 2, "num_envs_per_env_runner": 2}

if __name__ == "__main__":
    run(config, stop_return=STOP_RETURN, smoke=SMOKE)
