"""Torch in every actor of a local Ray of ours uses the CPUs Ray gave that actor.

Our workers import torch before they take an actor (runner/connect.py preloads it), so
torch had a thread per core in every actor: 8 one-CPU env runners on a 16-core machine
returned no sample in 60 s (benchmarks/RESULTS.md). runner/patches.py fixes that.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile

from conftest import REPO

CODE = """
import os, sys
import ray
from runner.connect import connect_ray, worker_preload

connect_ray(None, False, preimport=worker_preload("ray.rllib.algorithms.ppo"), prestart=2)

@ray.remote
class Probe:
    def __init__(self):
        self.preloaded = "torch" in sys.modules  # imported before this actor began

    def threads(self):
        import torch
        return self.preloaded, torch.get_num_threads()

seen = {}
for cpus in (1, 2):
    probe = Probe.options(num_cpus=cpus).remote()
    seen[cpus] = ray.get(probe.threads.remote())
    ray.kill(probe)
print(seen)
"""


def test_an_actor_s_torch_uses_the_cpus_ray_assigned_it():
    assert os.cpu_count() >= 2  # else one thread per actor is what torch would take anyway
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "OMP_NUM_THREADS")}
    with tempfile.TemporaryDirectory(prefix="rt-", dir="/tmp") as ray_tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CODE], cwd=REPO, capture_output=True, text=True,
            timeout=180, env={**env, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    # torch was already imported when each actor started (the preload), yet follows Ray.
    assert seen == {1: (True, 1), 2: (True, 2)}, seen
