"""End-to-end Pong PPO throughput on this machine: our default (also on AVX2 kernels only,
as on most laptops) against RLlib's own atari_ppo settings, and the emulator's ceiling, side
by side in one run.

Each PPO system trains Pong as a user runs it (``experiments/pong_ppo.py``, its defaults or
``--preset atari_ppo``), in a fresh process with its own local Ray, for the same wall time;
throughput is env steps (agent decisions; each is 4 emulator frames) per second of training,
sampling plus learning, counted from the end of the first iteration so start-up is left out.
The ceiling is ALE's C++ vector env alone (16 envs on one thread per core, random actions,
64×64 grey), what sampling could reach with no policy and no learning. Systems alternate
when --rounds > 1.

    python benchmarks/pong_throughput.py [--seconds 150] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from script_throughput import train_for  # noqa: E402

from benchmarks import store  # noqa: E402

BENCHMARK = "pong_ppo_throughput"

FRAMESKIP = 4
# Most laptops have neither AVX-512 nor AMX, which this box's CPU has: "ours_avx2" caps
# torch's and oneDNN's kernels at AVX2.
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
SYSTEMS = {
    "ours": ("pong_ppo.py defaults", (), {}),
    "ours_avx2": ("pong_ppo.py defaults, AVX2 kernels only", (), AVX2_ONLY),
    "atari_ppo": (
        "pong_ppo.py --preset atari_ppo (RLlib's settings)",
        ("--preset", "atari_ppo"),
        {},
    ),
}


def emulator_ceiling(seconds: float = 15.0, num_envs: int = 16) -> float:
    """Env steps per second of ALE's vector env of Pong, random actions, no policy."""
    import numpy as np
    from ale_py.vector_env import AtariVectorEnv

    cores = len(os.sched_getaffinity(0))
    env = AtariVectorEnv(
        "pong", num_envs, num_threads=cores, frameskip=FRAMESKIP, img_height=64, img_width=64,
        grayscale=True, stack_num=4, repeat_action_probability=0.0,
    )  # fmt: skip
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 6, (1024, num_envs), dtype=np.int32)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 1024])
        steps += 1
    elapsed = time.perf_counter() - start
    env.close()
    return steps * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {store.calibration()}", flush=True)
    campaign = store.new_campaign(BENCHMARK)
    ceiling = emulator_ceiling()
    print(f"emulator ceiling (ALE vector env, 16 envs, random actions): {ceiling:,.0f} steps/s")
    store.append(BENCHMARK, "emulator ceiling (ALE vector env, no policy)",
                 {"steps_per_s": ceiling}, campaign=campaign)  # fmt: skip
    runs: dict[str, list[float]] = {key: [] for key in SYSTEMS}
    for round_ in range(args.rounds):
        order = list(SYSTEMS)[round_ % len(SYSTEMS) :] + list(SYSTEMS)[: round_ % len(SYSTEMS)]
        for key in order:
            _, flags, env = SYSTEMS[key]
            rate = train_for("pong_ppo.py", args.seconds, *flags, env=env)["steps_per_s"]
            runs[key].append(rate)
            store.append(BENCHMARK, SYSTEMS[key][0], {"steps_per_s": rate}, campaign=campaign)
            print(f"round {round_ + 1} {key:10s} {rate:7.0f} steps/s", flush=True)

    cores = len(os.sched_getaffinity(0))
    print(f"\nmachine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"{'system':55s} {'steps/s':>8s} {'frames/s':>9s} {'vs atari_ppo':>12s}")
    reference = median(runs["atari_ppo"])
    rows = [("emulator ceiling (ALE vector env, no policy)", ceiling)]
    rows += [(label, median(runs[key])) for key, (label, *_) in SYSTEMS.items()]
    for label, rate in rows:
        print(f"{label:55s} {rate:8.0f} {rate * FRAMESKIP:9.0f} {rate / reference:11.2f}x")


if __name__ == "__main__":
    main()
