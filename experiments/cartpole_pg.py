"""Vanilla policy gradient (REINFORCE, algorithms/pg.py) on CartPole-v1.

How to run:
    python experiments/cartpole_pg.py            # train until solved, then a summary
    python experiments/cartpole_pg.py --smoke    # 2 iterations, a quick check
    python experiments/cartpole_pg.py --help     # every flag

Results: benchmarks/RESULTS.md ("CartPole"), the IQM over 10 seeds with its CI, rendered
from the results store. Small batches of whole episodes (8) and a large Adam step (1e-2) win
on wall-clock time: each update is cheap, and the learned baseline plus standardised returns
keep such steps stable.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from runner import start_local_ray_early  # Ray, not RLlib: the run's clock starts here

start_local_ray_early(__name__)  # as a script: the local Ray comes up while RLlib imports below

from ray import tune

from algorithms.pg import PGConfig
from runner import Experiment, run

config = (
    PGConfig()
    .environment("CartPole-v1")
    .env_runners(num_env_runners=0, num_envs_per_env_runner=8)
    .training(
        episodes_per_batch=8,
        lr=1e-2,
        gamma=0.99,
        standardize="batch",
        use_baseline=True,
        optimizer="adam",
    )
    .rl_module(model_config={"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh"})
    .evaluation(evaluation_duration=5)  # greedy episodes a round (every 20 iterations)
    .reporting(min_time_s_per_iteration=0)
)
EXPERIMENT = Experiment(
    config,
    stop_return=450,
    # --sweep: the RLlib tutorial's grid (as in cartpole_ppo.py), 2 × 2 × --num-samples
    # trials; an unsolved trial stops after sweep_budget steps.
    sweep={
        "fcnet_hiddens": tune.grid_search([[32], [64]]),
        "fcnet_activation": tune.grid_search(["linear", "relu"]),
        "lr": tune.uniform(1e-5, 1e-2),
    },
    sweep_budget=200_000,
)

if __name__ == "__main__":
    run(EXPERIMENT)
