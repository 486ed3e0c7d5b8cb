"""End-to-end Pong PPO throughput on this machine: our default against RLlib's own atari_ppo
settings, and the raw emulator's ceiling.

Every PPO system trains Pong through Tune, in a fresh process with a fresh local Ray (2
CPUs), for the same wall time; throughput is env steps (agent decisions; each is 4 emulator
frames) per second of training, sampling plus learning, counted from the end of the first
iteration so start-up is left out. Systems alternate when --rounds > 1.

    python benchmarks/pong_throughput.py [--seconds 150] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
FRAMESKIP = 4

# RLlib's tuned example (rllib/tuned_examples/ppo/atari_ppo.py, Ray 2.60) on the same env:
# 64x64 grey, 4 frames stacked by connectors, 1 env runner x 8 envs (its figures on this
# machine kind: benchmarks/RESULTS.md, "Pong PPO throughput").
RLLIB_ATARI_PPO = {
    "num_env_runners": 1,
    "num_envs_per_env_runner": 8,
    "num_cpus_per_env_runner": 1,
    "train_batch_size_per_learner": 4000,
    "minibatch_size": 128,
    "lr": 1.5e-4,
    "lambda_": 0.95,
    "kl_coeff": 0.5,
    "clip_param": 0.1,
    "vf_clip_param": 10.0,
    "entropy_coeff": 0.01,
    "grad_clip": 100.0,
}

SYSTEMS = {
    "ours": "rayrl-suite experiments/pong_ppo.py defaults",
    "rllib4": "RLlib atari_ppo settings, 4 epochs, 1 runner x 8 envs",
    "rllib10": "RLlib atari_ppo settings, its 10 epochs, 1 runner x 8 envs",
}


def raw_ale(seconds: float = 10.0) -> float:
    """Env steps per second of ALE/Pong-v5 (frameskip 4) with random actions, one process."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", repeat_action_probability=0.0)
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def one(system: str, seconds: float) -> dict:
    """Train ``system`` for ``seconds`` through Tune in this process; its throughput."""
    import importlib.util

    import ray
    from ray import tune

    import envs
    from runner.settings import use_learner_threads

    spec = importlib.util.spec_from_file_location("pong_ppo", REPO / "experiments" / "pong_ppo.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    config = script.config.copy(copy_frozen=False)
    config.environment(envs.register_env("pong"))
    if system == "ours":
        use_learner_threads(config)  # as the runner does: 2 threads here
    else:
        config.update_from_dict({**RLLIB_ATARI_PPO, "num_epochs": int(system[len("rllib") :])})
    config.reporting(min_time_s_per_iteration=0)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as storage:
        grid = tune.Tuner(
            config.algo_class,
            param_space=config,
            run_config=tune.RunConfig(
                storage_path=storage, stop={"time_total_s": seconds}, verbose=0
            ),
        ).fit()
        [result] = list(grid)
        rows = [
            json.loads(line)
            for line in (Path(result.path) / "result.json").read_text().splitlines()
        ]
    first, last = rows[0], rows[-1]
    steps = last["num_env_steps_sampled_lifetime"] - first["num_env_steps_sampled_lifetime"]
    elapsed = last["time_total_s"] - first["time_total_s"]
    timers = [r["timers"] for r in rows[1:]]
    return {
        "steps_per_s": steps / elapsed,
        "iterations": len(rows),
        "steps": last["num_env_steps_sampled_lifetime"],
        "sampling_s": median(t["env_runner_sampling_timer"] for t in timers),
        "learning_s": median(t["learner_update_timer"] for t in timers),
        "batch": config.train_batch_size_per_learner,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--one", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds)))
        return

    ceiling = raw_ale()
    cores = os.cpu_count() or 1
    print(f"raw ALE, random actions, 1 process: {ceiling:,.0f} steps/s")
    runs: dict[str, list[dict]] = {key: [] for key in SYSTEMS}
    for round_ in range(args.rounds):
        order = list(SYSTEMS)[round_ % len(SYSTEMS) :] + list(SYSTEMS)[: round_ % len(SYSTEMS)]
        for key in order:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", key, "--seconds", str(args.seconds)],
                capture_output=True, text=True, cwd=REPO, timeout=args.seconds + 600,
            )  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"{key} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[key].append(run)
            print(
                f"round {round_ + 1} {key:8s} {run['steps_per_s']:7.0f} steps/s  "
                f"sampling {run['sampling_s']:.2f} s + learning {run['learning_s']:.2f} s "
                f"per {run['batch']} steps",
                flush=True,
            )

    print(f"\nmachine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"{'system':60s} {'steps/s':>8s} {'frames/s':>9s} {'vs RLlib 4 ep':>13s}")
    print(f"{'raw ALE ceiling (1 process x ' + str(cores) + ' cores)':60s} "
          f"{ceiling * cores:8.0f} {ceiling * cores * FRAMESKIP:9.0f}")  # fmt: skip
    reference = median(r["steps_per_s"] for r in runs["rllib4"])
    for key, label in SYSTEMS.items():
        rate = median(r["steps_per_s"] for r in runs[key])
        print(f"{label:60s} {rate:8.0f} {rate * FRAMESKIP:9.0f} {rate / reference:12.2f}x")


if __name__ == "__main__":
    main()
