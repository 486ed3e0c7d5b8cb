"""Every use of private Ray, Tune, torch and imageio-ffmpeg internals, in one place.

``PATCHES`` lists each one: the symbols it touches, what it saves (measured: see
benchmarks/RESULTS.md, "Private internals we patch") and what happens without it.
``tests/test_patches.py`` resolves every listed symbol, so a Ray, torch or imageio-ffmpeg
upgrade that moves one fails loudly instead of silently losing a speed-up.

``RAYRL_SPEED_PATCHES=off`` turns the speed patches off (the ones marked ``speed``); the
suite then runs exactly as plain Ray would, only slower to start. The others are needed
for correctness and stay on.

Light on purpose: Ray's workers import this module as they start (see runner/worker.py).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SWITCH = "RAYRL_SPEED_PATCHES"


@dataclass(frozen=True)
class Patch:
    name: str
    symbols: tuple[str, ...]  # "module:attribute.attribute"
    saves: str
    without: str
    speed: bool  # switched off by RAYRL_SPEED_PATCHES=off
    mentions: str = ""  # text the first symbol's source must hold for the patch to work


PATCHES = (
    Patch(
        "no dashboard processes",
        (
            "ray._private.node:Node.start_api_server",
            "ray._private.utils:get_dashboard_dependency_error",
        ),
        saves="~1.5 s of every local ray.init",
        speed=True,
        without="Ray starts its dashboard process and its agent in full",
    ),
    Patch(
        "one pre-started worker",
        ("ray._private.services:start_raylet", "ray._private.services:start_ray_process"),
        saves="a second worker importing RLlib while the trial starts, on 2 cores",
        without="one pre-started worker per CPU",
        speed=True,
        mentions="num_prestart_python",
    ),
    Patch(
        "trials take pre-started workers",
        ("ray.tune.execution.class_cache:DEFAULT_ENV_VARS",),
        saves="~5 s: the trial's worker has imported RLlib and torch already",
        without="every trial waits for a fresh worker",
        speed=True,
    ),
    Patch(
        "torch._dynamo deferred (runner/deferred_dynamo.py)",
        ("torch.optim.optimizer:_use_grad_for_differentiable",),
        saves="~1.2 s: the first optimizer step of every trial imports torch._dynamo",
        without="that import, on the trial's critical path",
        speed=True,
        mentions="torch._dynamo.graph_break",
    ),
    Patch(
        "1 MiB pipe into ffmpeg",
        ("imageio_ffmpeg:write_frames",),
        saves="~0.35 s of loop time per 500-frame CartPole video",
        without="64 KiB: many more wake-ups of the env and ffmpeg",
        speed=True,
        mentions="p = subprocess.Popen(",
    ),
    Patch(
        "minibatch shuffle gathers rows through NumPy",
        ("ray.rllib.policy.sample_batch:SampleBatch.shuffle",),
        saves="~0.6 s of a Pong PPO iteration (4,096 uint8 frames: 90 → 30 ms an epoch)",
        without="torch's advanced indexing gathers the shuffled rows of every column",
        speed=True,
        mentions="v[permutation]",
    ),
    Patch(
        "env runners keep only the totals of returned chunks",
        ("ray.rllib.env.single_agent_env_runner:SingleAgentEnvRunner._sample",),
        saves="(memory: a winning Pong agent's 2,000-step episodes held ~0.5 GB of frames)",
        without="every returned chunk of a running episode stays, frames and all, until it ends",
        speed=False,
        mentions="self._ongoing_episodes_for_metrics[eps.id_].append(eps)",
    ),
    Patch(
        "Ray on 127.0.0.1 only",
        ("ray._private.ray_constants:ENABLE_RAY_CLUSTER",),
        saves="(security: a local Ray's servers listen on loopback only)",
        without="Ray binds its servers to every interface",
        speed=False,
    ),
    Patch(
        "torch follows Ray's CPUs",
        ("ray._private.utils:set_omp_num_threads_if_unset",),
        saves="8 one-CPU env runners on 16 cores returned no sample in 60 s without it",
        without="preloaded torch takes a thread per core in every actor",
        speed=False,
    ),
    Patch(
        "videos into the trial directory",
        ("ray.tune.trainable.trainable:Trainable.__init__",),
        saves="(no public API says where Tune keeps a trial's files)",
        without="videos go to algorithm.logdir, which Tune does not sync",
        speed=False,
        mentions="self._storage",
    ),
    Patch(
        "resume reads Tune's bookkeeping",
        (
            "ray.train._internal.checkpoint_manager:_CheckpointManager.__init__",
            "ray.train._internal.checkpoint_manager:_CheckpointManager._get_checkpoint_score",
            "ray.tune.trainable.metadata:_TrainingRunMetadata",
            "ray.train._internal.checkpoint_manager:_insert_into_sorted_list",
            "ray.train._internal.session:_TrainingResult",
        ),
        saves="(what makes --resume exact after a killed driver)",
        without="a trial that finished after Tune's last save runs again",
        speed=False,
        mentions="self._latest_checkpoint_result",
    ),
)


# Every other private name of a library the suite reads or calls, outside the patches above:
# "owner:name" (a class or module to find it on; "" where only an instance holds it) and
# where and why. tests/test_patches.py resolves each that has an owner, and fails on a private
# name anywhere in the code that is listed neither here nor in PATCHES.
PRIVATE_NAMES = {
    "ray.rllib.core.learner.learner:Learner._learner_connector": (
        "algorithms/pg.py: the learner's connector pipeline, to add PG's returns piece"
    ),
    "ray.rllib.core.learner.learner:Learner._module": (
        "algorithms/pg.py, ppo_learner.py: the learner's RLModule, as RLlib's own learners reach it"
    ),
    ":_value_error": ("algorithms/pg.py: PG's value loss kept on the learner between calls"),
    "argparse:ArgumentParser._option_string_actions": (
        "runner/from_python.py: a parser's flags, to turn train()'s keywords into a command line"
    ),
    "ray.air.integrations.wandb:WandbLoggerCallback._trial_queues": (
        "callbacks/tracking.py: the W&B runs of trials that Ctrl-C stopped, to end them"
    ),
    "ray.air.integrations.mlflow:MLflowLoggerCallback._trial_runs": (
        "callbacks/tracking.py: Tune's trial → MLflow run map, emptied in setup()"
    ),
    "ray.air.integrations.wandb:WandbLoggerCallback._signal_logging_actor_stop": (
        "callbacks/tracking.py: stops a trial's W&B logging actor"
    ),
    "ray.air._internal.mlflow:_MLflowLoggerUtil._get_client": (
        "callbacks/tracking.py: MLflow's client behind Ray's callback (one log_batch a result)"
    ),
    "ray.tune.execution.tune_controller:TuneController._cached_trial_decisions": (
        "runner/resume.py: a decision Tune queued for a trial (a STOP after a full disk)"
    ),
    "ray.tune.execution.tune_controller:TuneController._queued_trial_decisions": (
        "runner/resume.py: the same, its other queue"
    ),
    ":_checkpoint_results": (
        "runner/resume.py: a trial's recorded checkpoints (Tune's _CheckpointManager)"
    ),
    ":_latest_checkpoint_result": ("runner/resume.py: the same manager's latest checkpoint"),
    "ray.train._internal.checkpoint_manager:_CheckpointManager._get_checkpoint_score": (
        "runner/resume.py: orders the recorded checkpoints as Tune does"
    ),
    "ray._common.utils:get_default_ray_temp_dir": (
        "runner/resume.py: where Ray keeps the driver's copies of an experiment"
    ),
    "ray._common.deprecation": ("runner/worker.py, analysis/__main__.py: its logger, quieted"),
    "ray._private.authentication.authentication_token_setup": (
        "runner/worker.py: its logger (the token notice), quieted"
    ),
    "ray.train._internal.storage": ("runner/worker.py: its logger, quieted"),
    ":_model_config": (
        "analysis/experiment.py, callbacks/tracking.py: RLlib's model-config key in params"
    ),
}


def speed_patches_on() -> bool:
    return os.environ.get(SWITCH, "on").lower() not in ("off", "0", "no", "false")


def resolve(symbol: str) -> Any:
    """The object a ``PATCHES`` symbol names; ImportError/AttributeError when it is gone."""
    module, _, path = symbol.partition(":")
    found: Any = importlib.import_module(module)
    for part in path.split("."):
        found = getattr(found, part)
    return found


# ---- Ray start-up (runner/connect.py) ------------------------------------------------------

PRESTART_FLAG = "--num_prestart_python_workers="


@contextlib.contextmanager
def lean_ray_start(dashboard: bool, prestart: int | None) -> Iterator[None]:
    """Around ``ray.init`` of a local Ray: no dashboard processes unless asked for (Ray 2.60
    starts one anyway for usage statistics, which we switch off, and a full agent), and
    ``prestart`` workers started ahead of time instead of one per CPU."""
    from ray._private import node, services, utils

    if not speed_patches_on():
        yield
        return
    saved = (node.Node.start_api_server, utils.get_dashboard_dependency_error,
             services.start_ray_process)  # fmt: skip
    if not dashboard and os.environ.get("RAY_USAGE_STATS_ENABLED") == "0":
        node.Node.start_api_server = lambda self, **kwargs: None
        utils.get_dashboard_dependency_error = lambda: ImportError("no dashboard asked for")
    if prestart is not None:
        original = services.start_ray_process

        def start_ray_process(command, *args, **kwargs):
            command = [f"{PRESTART_FLAG}{prestart}" if str(part).startswith(PRESTART_FLAG)
                       else part for part in command]  # fmt: skip
            return original(command, *args, **kwargs)

        services.start_ray_process = start_ray_process
    try:
        yield
    finally:
        (node.Node.start_api_server, utils.get_dashboard_dependency_error,
         services.start_ray_process) = saved  # fmt: skip


def trials_take_prestarted_workers() -> None:
    """Tune starts every trial actor with ``runtime_env={"env_vars": {"PL_DISABLE_FORK": "1"}}``
    and Ray never hands such an actor a pre-started worker; our local Ray's workers inherit
    these variables already, so Tune's copy is dropped where the values agree."""
    if not speed_patches_on():
        return
    from ray.tune.execution import class_cache

    for key, value in list(class_cache.DEFAULT_ENV_VARS.items()):
        if os.environ.get(key) == value:
            del class_cache.DEFAULT_ENV_VARS[key]


# ---- every worker (runner/worker.py) -------------------------------------------------------


def torch_threads_follow_ray() -> None:
    """Ray sets OMP_NUM_THREADS to an actor's CPUs as the actor starts, for libraries that
    read it on import; our workers import torch before that, so apply Ray's value to torch."""
    from ray._private import utils

    original = utils.set_omp_num_threads_if_unset
    if getattr(original, "torch_follows", False):
        return

    def set_omp_num_threads_if_unset() -> bool:
        was_set = original()
        if was_set and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        return was_set

    set_omp_num_threads_if_unset.torch_follows = True  # type: ignore[attr-defined]
    utils.set_omp_num_threads_if_unset = set_omp_num_threads_if_unset


# ---- video (video/mp4.py, callbacks/eval_video.py) -----------------------------------------

_F_SETPIPE_SZ = 1031  # Linux
PIPE_BYTES = 1 << 20  # what unprivileged processes may ask for by default


def widen_ffmpeg_pipe(writer: Any) -> None:
    """Enlarge the pipe into imageio-ffmpeg's ffmpeg (its generator's own Popen) to 1 MiB, so
    a frame goes in one write; where the OS or imageio-ffmpeg differ, leave it as it is."""
    if not speed_patches_on():
        return
    try:
        import fcntl

        process = writer.gi_frame.f_locals["p"]
        fcntl.fcntl(process.stdin.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
    except Exception:
        pass


def tune_trial_storage(algorithm: Any) -> Any:
    """The StorageContext Tune gives a trial's Algorithm (``_storage``), or None outside Tune."""
    return getattr(algorithm, "_storage", None)


# ---- learners (algorithms/ppo_learner.py) ----------------------------------------------------


def numpy_batch_shuffle() -> None:
    """RLlib shuffles a learner's batch every epoch, each column's rows gathered by torch's
    advanced indexing, which copies a batch of frames ~3× slower than NumPy's ``take`` of
    the same rows. This gathers CPU tensors through NumPy: the same permutation (the same
    draw from NumPy's RNG), the same rows, so training is unchanged."""
    import numpy as np
    import tree
    from ray.rllib.core.columns import Columns
    from ray.rllib.policy.sample_batch import SampleBatch

    original = SampleBatch.shuffle
    if getattr(original, "numpy_rows", False) or not speed_patches_on():
        return

    def shuffle(self: SampleBatch) -> SampleBatch:
        if self.get(SampleBatch.SEQ_LENS) is not None:  # sequences: RLlib's own rules
            return original(self)
        permutation = np.random.permutation(self.count)
        columns = dict(self)
        columns.pop(Columns.INFOS, None)  # RLlib's shuffle leaves the infos as they are
        self.update(tree.map_structure(lambda value: _rows(value, permutation), columns))
        self.intercepted_values = {}  # as RLlib's: values derived before are stale
        return self

    shuffle.numpy_rows = True  # type: ignore[attr-defined]
    shuffle.original = original  # type: ignore[attr-defined]
    SampleBatch.shuffle = shuffle


def _rows(value: Any, permutation: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.device.type == "cpu" and not value.requires_grad:
            try:
                return torch.from_numpy(value.numpy()[permutation])
            except (TypeError, RuntimeError):  # a dtype NumPy lacks (bfloat16)
                pass
    return value[permutation]


class ChunkTotals:
    """What RLlib reads of an episode's returned chunk until the episode ends: its length,
    return and duration (``SingleAgentEnvRunner.get_metrics``; the ``prev_episode_chunks``
    of ``on_episode_end`` callbacks)."""

    __slots__ = ("id_", "_length", "_return", "_duration_s")

    def __init__(self, chunk: Any) -> None:
        self.id_ = chunk.id_
        self._length = len(chunk)
        self._return = chunk.get_return()
        self._duration_s = chunk.get_duration_s()

    def __len__(self) -> int:
        return self._length

    def get_return(self) -> float:
        return self._return

    def get_duration_s(self) -> float:
        return self._duration_s


def keep_only_totals_of_returned_chunks(env_runner: Any) -> None:
    """In place of the returned chunks a single-agent env runner keeps of its running
    episodes (``_ongoing_episodes_for_metrics``), their ``ChunkTotals``. The chunks
    themselves went out with the sample; only the env runner's own list held them."""
    kept = getattr(env_runner, "_ongoing_episodes_for_metrics", None)
    if not isinstance(kept, dict):
        return
    for chunks in kept.values():
        chunks[:] = [c if isinstance(c, ChunkTotals) else ChunkTotals(c) for c in chunks]


# ---- Ray on loopback (runner/connect.py), resume (runner/resume.py) ---------------------------


def keep_ray_on_loopback() -> None:
    """Ray turns ``_node_ip_address="127.0.0.1"`` into the machine's IP and binds to every
    interface; its single-machine mode (made for macOS and Windows) keeps all on loopback."""
    from ray._private import ray_constants

    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"  # for the processes Ray starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # read by this process at ray.init


def tune_bookkeeping() -> tuple[Any, Any, Any]:
    """Tune's classes for a trial's checkpoint bookkeeping: (run metadata, training result,
    insert into its sorted checkpoint list)."""
    from ray.train._internal.checkpoint_manager import _insert_into_sorted_list
    from ray.train._internal.session import _TrainingResult
    from ray.tune.trainable.metadata import _TrainingRunMetadata

    return _TrainingRunMetadata, _TrainingResult, _insert_into_sorted_list
