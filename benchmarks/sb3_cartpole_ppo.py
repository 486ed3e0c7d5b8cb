"""SB3 PPO on CartPole-v1 with rl-baselines3-zoo's hyperparameters, stopped by our rule.

Prints one JSON line: seconds from process start to solved, and timesteps.
Used only by cartpole_time_to_solve.py (needs the `bench` extra).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from runner.process_clock import process_start_time  # noqa: E402 (no ray import)

_flags = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_flags.add_argument("--stop-return", type=float, default=450.0)
_flags.add_argument("--seed", type=int, default=None)
FLAGS = _flags.parse_args()
STOP_RETURN = FLAGS.stop_return
MAX_TIMESTEPS = 100_000  # rl-zoo's n_timesteps for CartPole-v1; its lr/clip decay over it


def linear(start: float):
    return lambda progress_remaining: progress_remaining * start


class StopWhenSolved(BaseCallback):
    """Stop once the mean return of the last 100 training episodes reaches STOP_RETURN."""

    solved_at: float | None = None

    def _on_step(self) -> bool:
        window = self.model.ep_info_buffer
        if (
            len(window) == window.maxlen
            and sum(e["r"] for e in window) / len(window) >= STOP_RETURN
        ):
            self.solved_at = time.time()
            return False
        return True


started = process_start_time()
env = make_vec_env("CartPole-v1", n_envs=8, seed=FLAGS.seed)
model = PPO(
    "MlpPolicy",
    env,
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=linear(1e-3),
    clip_range=linear(0.2),
    seed=FLAGS.seed,
    verbose=0,
)
stop = StopWhenSolved()
model.learn(total_timesteps=MAX_TIMESTEPS, callback=stop)
print(
    json.dumps(
        {
            "solved": stop.solved_at is not None,
            "seconds": (stop.solved_at or time.time()) - started,
            "timesteps": int(model.num_timesteps),
        }
    )
)
