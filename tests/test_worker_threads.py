"""Torch in every actor of a local Ray of ours uses the CPUs Ray gave that actor.

Our workers import torch before they take an actor (runner/connect.py preloads it), so
torch had a thread per core in every actor: 8 one-CPU env runners on a 16-core machine
returned no sample in 60 s (benchmarks/RESULTS.md). suite/patches.py fixes that.
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
        from ray.rllib.policy.sample_batch import SampleBatch
        numpy_shuffle = getattr(SampleBatch.shuffle, "numpy_rows", False)  # the preload's patch
        return self.preloaded, torch.get_num_threads(), numpy_shuffle

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
    # torch was already imported when each actor started (the preload), yet follows Ray; the
    # learner's shuffle patch was switched on by the preload, in every worker.
    assert seen == {1: (True, 1, True), 2: (True, 2, True)}, seen


def test_a_trial_that_samples_itself_samples_on_one_torch_thread_and_learns_on_all(ray_session):
    from functools import partial

    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
    from ray.rllib.callbacks.callbacks import RLlibCallback

    from callbacks.learner_threads import LearnerThreads

    seen: dict[str, set[int]] = {"sampling": set(), "evaluating": set(), "learning": set()}

    class Recorder(RLlibCallback):
        def on_episode_step(self, *, env_runner=None, **kwargs):
            phase = "evaluating" if env_runner.config.in_evaluation else "sampling"
            seen[phase].add(torch.get_num_threads())

    class RecordingLearner(PPOTorchLearner):
        def compute_loss_for_module(self, **kwargs):
            seen["learning"].add(torch.get_num_threads())
            return super().compute_loss_for_module(**kwargs)

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=256, minibatch_size=128, num_epochs=1)
        .learners(learner_class=RecordingLearner)
        .callbacks([partial(LearnerThreads, threads=2), Recorder])
        .evaluation(evaluation_interval=1, evaluation_duration=1)
    )
    algo = config.build_algo()
    try:
        for _ in range(2):
            algo.train()
    finally:
        algo.stop()
    assert seen == {"sampling": {1}, "evaluating": {1}, "learning": {min(2, os.cpu_count())}}
