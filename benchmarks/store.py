"""The results store: every benchmark run appends its figures to ``benchmarks/results/``.

One JSON line per run of one system on one seed: the benchmark, the system, the seed, the
figures, the campaign (the runs aggregated together), the date, the git commit, the exact
command, and the machine's calibration, so that figures from different VMs can be compared.
``render_results.py`` renders RESULTS.md's tables and README's figures from these records.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def isa_flags() -> list[str]:
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return [flag for flag in ISA_FLAGS if flag in flags]


def ale_steps_per_s(seconds: float = 3.0) -> float:
    """ALE Pong's env steps/s (frameskip 4, random actions) in this one process, one core."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", frameskip=4, repeat_action_probability=0.0)
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    env.close()
    return steps / (time.perf_counter() - start)


def torch_cnn_ms(repeats: int = 10) -> float:
    """Median ms of one forward + backward + SGD step of a fixed CNN (the DQN paper's, on a
    minibatch of 128 frames of 64×64×4), on 2 torch threads: the learner's kind of work."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(4, 32, 8, 4), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 4, 2),
        torch.nn.ReLU(), torch.nn.Conv2d(64, 64, 3, 1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.LazyLinear(512), torch.nn.ReLU(), torch.nn.Linear(512, 6),
    )  # fmt: skip
    frames = torch.rand(128, 4, 64, 64)
    net(frames)  # the lazy layer's shape
    optimiser = torch.optim.SGD(net.parameters(), lr=1e-3)
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        optimiser.zero_grad()
        net(frames).square().mean().backward()
        optimiser.step()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times[2:])[len(times[2:]) // 2]


@cache
def calibration() -> dict[str, Any]:
    """This machine: CPU model, ISA flags, cores, and two fixed timings (measured once)."""
    import ray
    import torch

    return {
        "cpu": cpu_model(),
        "isa": isa_flags(),
        "cores": os.cpu_count(),
        "ale_pong_steps_per_s_one_core": round(ale_steps_per_s(), 1),
        "torch_cnn_step_ms": round(torch_cnn_ms(), 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
    }


def commit() -> str:
    """HEAD's commit, with ``+dirty`` where the tracked code differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short=10", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
    return head + ("+dirty" if dirty else "")


def this_command() -> str:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def new_campaign(benchmark: str) -> str:
    """A name for the runs of one invocation: aggregated together by the renderer."""
    return f"{benchmark}@{time.strftime('%Y-%m-%dT%H:%M:%S')}"


def append(
    benchmark: str,
    system: str,
    figures: dict[str, Any],
    *,
    campaign: str,
    seed: int | None = None,
    command: str | None = None,
    results: Path = RESULTS,
) -> dict[str, Any]:
    """Append one run's record to ``results/<benchmark>.jsonl``; return it."""
    record = {
        "benchmark": benchmark,
        "system": system,
        "seed": seed,
        "figures": figures,
        "campaign": campaign,
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "command": command or this_command(),
        "machine": calibration(),
    }
    results.mkdir(parents=True, exist_ok=True)
    with open(results / f"{benchmark}.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def load(results: Path = RESULTS) -> list[dict[str, Any]]:
    """Every record in the store, file by file, in the order they were appended."""
    return [
        json.loads(line)
        for path in sorted(results.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
