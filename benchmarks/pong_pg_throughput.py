"""Pong PG sampling: our ``pong_pg.py`` against a NumPy implementation of the Pong-from-pixels
tutorial's training loop, side by side on this machine.

Both play ``ALE/Pong-v5`` with frameskip 4 and no sticky actions, see the tutorial's 80×80
difference frames and update a 6400-200-1 policy every 10 episodes (RMSProp). Ours runs as
a user runs it (``experiments/pong_pg.py``, its defaults or ``--preset tutorial``); the
NumPy loop runs in one process, as the tutorial did. Each trains for the same wall time;
env steps and episodes are counted per second of training after the first iteration (ours)
or batch (NumPy). Systems alternate when --rounds > 1.

    python benchmarks/pong_pg_throughput.py [--seconds 120] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import store  # noqa: E402
from benchmarks.render_results import CEILING, NUMPY_LOOP, PG_SAMPLING  # noqa: E402
from benchmarks.script_throughput import train_for  # noqa: E402
from envs.pong import DOWN, UP, karpathy_frame, make_pong_pixels  # noqa: E402

BENCHMARK = PG_SAMPLING


def numpy_tutorial(seconds: float, batch: int = 10, seed: int = 0) -> dict:
    """The tutorial's loop: a forward pass per step, backprop per episode, RMSProp per batch."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", frameskip=4, repeat_action_probability=0.0)
    rng = np.random.default_rng(seed)
    model = {
        "W1": rng.standard_normal((200, 6400)) / np.sqrt(6400),
        "W2": rng.standard_normal(200) / np.sqrt(200),
    }
    grads = {k: np.zeros_like(v) for k, v in model.items()}
    cache = {k: np.zeros_like(v) for k, v in model.items()}
    frame, _ = env.reset(seed=seed)
    previous = karpathy_frame(frame)
    xs, hs, dlogps, rewards = [], [], [], []
    steps = episodes = 0
    started = counted_from = time.perf_counter()
    counted_steps = counted_episodes = 0
    while time.perf_counter() - started < seconds:
        current = karpathy_frame(frame)
        x = (current - previous).ravel()
        previous = current
        h = np.maximum(model["W1"] @ x, 0)
        p = 1.0 / (1.0 + np.exp(-model["W2"] @ h))
        action = 0 if rng.random() < p else 1  # 0: UP, 1: DOWN
        xs.append(x)
        hs.append(h)
        dlogps.append((1 - action) - p)
        frame, reward, terminated, truncated, _ = env.step((UP, DOWN)[action])
        rewards.append(reward)
        steps += 1
        if not (terminated or truncated):
            continue
        episodes += 1
        r = np.array(rewards)
        returns, running = np.zeros_like(r), 0.0
        for t in reversed(range(len(r))):
            running = 0.0 if r[t] != 0 else running
            running = running * 0.99 + r[t]
            returns[t] = running
        returns = (returns - returns.mean()) / (returns.std() + 1e-8)
        delta = np.array(dlogps) * returns
        eph, epx = np.vstack(hs), np.vstack(xs)
        grads["W2"] += eph.T @ delta
        dh = np.outer(delta, model["W2"])
        dh[eph <= 0] = 0
        grads["W1"] += dh.T @ epx
        xs, hs, dlogps, rewards = [], [], [], []
        frame, _ = env.reset()
        previous = karpathy_frame(frame)
        if episodes % batch == 0:
            for k, v in model.items():
                cache[k] = 0.99 * cache[k] + 0.01 * grads[k] ** 2
                model[k] = v + 1e-4 * grads[k] / (np.sqrt(cache[k]) + 1e-5)
                grads[k][:] = 0
            if episodes == batch:  # count from the end of the first batch, as for ours
                counted_from, counted_steps, counted_episodes = time.perf_counter(), steps, episodes
    elapsed = time.perf_counter() - counted_from
    return {
        "steps_per_s": (steps - counted_steps) / elapsed,
        "episodes_per_min": 60 * (episodes - counted_episodes) / elapsed,
    }


def vector_env_ceiling(seconds: float, num_envs: int = 64) -> dict:
    """The env as ``pong_pg.py`` samples it (ALE's C++ vector env, 64 envs on threads, the
    tutorial's difference frames), random actions, no policy: what sampling could reach."""
    env = make_pong_pixels({"num_envs": num_envs})
    env.reset(seed=0)
    env.action_space.seed(0)
    steps = episodes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += num_envs
        episodes += int(np.sum(terminated | truncated))
    elapsed = time.perf_counter() - start
    env.close()
    return {"steps_per_s": steps / elapsed, "episodes_per_min": 60 * episodes / elapsed}


SYSTEMS = {
    "ceiling": CEILING,
    "numpy": NUMPY_LOOP,
    "ours": "ours, pong_pg.py defaults",
    "tutorial": "ours, pong_pg.py --preset tutorial",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {store.calibration()}", flush=True)
    campaign = store.new_campaign(BENCHMARK)
    runs: dict[str, list[dict]] = {key: [] for key in SYSTEMS}
    for round_ in range(args.rounds):
        order = list(SYSTEMS)[round_ % len(SYSTEMS) :] + list(SYSTEMS)[: round_ % len(SYSTEMS)]
        for key in order:
            if key == "ceiling":
                run = vector_env_ceiling(min(args.seconds, 30.0))
            elif key == "numpy":
                run = numpy_tutorial(args.seconds)
            else:
                flags = ("--preset", "tutorial") if key == "tutorial" else ()
                run = train_for("pong_pg.py", args.seconds, *flags)
            runs[key].append(run)
            kept = {k: run[k] for k in ("steps_per_s", "episodes_per_min")}
            store.append(BENCHMARK, SYSTEMS[key], kept, campaign=campaign)
            print(
                f"round {round_ + 1} {key:8s} {run['steps_per_s']:7.0f} steps/s "
                f"{run['episodes_per_min']:6.1f} episodes/min",
                flush=True,
            )
    cores = os.cpu_count() or 1
    print(f"\nmachine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(
        f"{'system':45s} {'steps/s':>8s} {'episodes/min':>13s} {'vs NumPy':>9s} {'of ceiling':>10s}"
    )
    reference = median(r["episodes_per_min"] for r in runs["numpy"])
    ceiling = median(r["episodes_per_min"] for r in runs["ceiling"])
    for key, label in SYSTEMS.items():
        rate = median(r["steps_per_s"] for r in runs[key])
        episodes = median(r["episodes_per_min"] for r in runs[key])
        print(
            f"{label:45s} {rate:8.0f} {episodes:13.1f} {episodes / reference:8.2f}x "
            f"{episodes / ceiling:9.0%}"
        )


if __name__ == "__main__":
    main()
