"""suite/patches.py: every private symbol we patch still exists, and the switch turns the
speed patches off with the suite still correct."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, run_script

from suite import patches


@pytest.mark.parametrize(
    "name", [n for n in patches.PRIVATE_NAMES if not n.startswith(":")], ids=str
)
def test_every_listed_private_name_is_still_there(name):
    # On the class or module, or (an attribute its instances get) set in its source or its
    # bases' sources.
    if ":" not in name:  # a module
        owner, attribute = f"{name}:__name__", ""
    elif "." in name.split(":")[1]:  # an attribute of a class
        owner, _, attribute = name.rpartition(".")
    else:
        owner, attribute = name, ""
    try:
        found = patches.resolve(owner)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"{name} is gone ({err}): {patches.PRIVATE_NAMES[name]}")
    if attribute and not hasattr(found, attribute):
        sources = [inspect.getsource(c) for c in found.__mro__ if c.__module__ != "builtins"]
        assert any(
            f".{attribute} =" in source or f".{attribute}:" in source for source in sources
        ), f"{name} is gone: {patches.PRIVATE_NAMES[name]}"


def test_no_private_name_in_the_code_is_missing_from_the_registry():
    # A private name of a library used anywhere (an attribute, an import, a getattr string)
    # must be listed in suite/patches.py, in PATCHES or PRIVATE_NAMES; the suite's own
    # private names (defined in its code) are not.
    listed = " ".join([*patches.PRIVATE_NAMES, *(s for p in patches.PATCHES for s in p.symbols)])
    listed += " " + " ".join(p.mentions for p in patches.PATCHES)
    missing = {
        name: where
        for name, where in private_names_used(REPO).items()
        if name not in listed and name.rsplit(".", 1)[-1] not in listed
    }
    assert not missing, f"private names used but not listed in suite/patches.py: {missing}"


def private_names_used(repo) -> dict[str, str]:
    """Private names the code uses that it does not define: ``{name: a file using it}``."""
    files = [
        p for package in ("algorithms", "analysis", "callbacks", "envs", "experiments",
                          "runner", "suite", "video") for p in (repo / package).rglob("*.py")
    ]  # fmt: skip
    trees = {f: ast.parse(f.read_text()) for f in files}
    ours = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ours.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            ours.add(sub.id)
                        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                            if sub.value.id in ("self", "cls"):
                                ours.add(sub.attr)
            elif isinstance(node, ast.arg):
                ours.add(node.arg)
    used: dict[str, str] = {}

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__") and name not in ours

    for path, tree in trees.items():
        where = str(path.relative_to(repo))
        formatted = {  # the text of f-strings: file names and messages, not names
            id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
            for part in node.values
        }  # fmt: skip
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and private(node.attr):
                used.setdefault(node.attr, where)
            elif isinstance(node, ast.ImportFrom) and node.module:
                if any(private(part) for part in node.module.split(".")):
                    used.setdefault(node.module, where)
                for alias in node.names:
                    if private(alias.name):
                        used.setdefault(alias.name, where)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in formatted:
                    continue
                text = node.value
                if text.isidentifier() and private(text):
                    used.setdefault(text, where)  # getattr(x, "_name") and the like
                elif text.startswith(("ray.", "torch.")) and " " not in text and "._" in text:
                    used.setdefault(text.split(":")[0], where)  # a logger or module by name
    return used


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_every_patched_symbol_is_still_there(patch):
    # A Ray, torch or imageio-ffmpeg upgrade that renames one fails here, not silently.
    for symbol in patch.symbols:
        try:
            patches.resolve(symbol)
        except (ImportError, AttributeError) as err:
            pytest.fail(f"{patch.name}: {symbol} is gone ({err}); the patch no longer applies")
    if patch.mentions:
        source = inspect.getsource(patches.resolve(patch.symbols[0]))
        assert patch.mentions in source, f"{patch.name}: {patch.symbols[0]} changed"


def _python(code: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


PROBE = """
    import sys, torch
    from ray._private import node, services
    from suite import patches
    import runner.deferred_dynamo  # what every worker imports as it starts
    before = (node.Node.start_api_server, services.start_ray_process)
    with patches.lean_ray_start(dashboard=False, prestart=1):
        during = (node.Node.start_api_server, services.start_ray_process)
    dynamo = type(sys.modules.get("torch._dynamo")).__name__
    print(during == before, during[0] is before[0], dynamo)
"""


def test_the_switch_turns_the_speed_patches_off():
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    on = _python(PROBE, **env)
    off = _python(PROBE, **env, **{patches.SWITCH: "off"})
    assert on.split() == ["False", "False", "_DeferredDynamo"]
    assert off.split() == ["True", "True", "NoneType"]  # Ray's own functions, no stand-in


def test_the_numpy_minibatch_shuffle_gives_rllibs_rows_for_the_same_seed():
    import numpy as np
    import torch
    from ray.rllib.policy.sample_batch import SampleBatch

    def batch() -> SampleBatch:
        frames = torch.arange(64 * 2 * 2 * 4, dtype=torch.int32).reshape(64, 2, 2, 4)
        return SampleBatch({
            "obs": frames.to(torch.uint8),
            "actions": torch.arange(64),
            "logp": torch.linspace(0, 1, 64, dtype=torch.bfloat16),  # no NumPy dtype
            "advantages": np.arange(64.0),
            "infos": [{"step": i} for i in range(64)],
        })  # fmt: skip

    patches.numpy_batch_shuffle()
    assert SampleBatch.shuffle.numpy_rows
    ours, rllibs = batch(), batch()
    np.random.seed(7)
    ours.shuffle()
    np.random.seed(7)
    SampleBatch.shuffle.original(rllibs)
    assert not torch.equal(ours["actions"], torch.arange(64))  # shuffled at all
    for column in ("obs", "actions", "logp"):
        assert ours[column].dtype == rllibs[column].dtype
        assert torch.equal(ours[column], rllibs[column]), column
    assert np.array_equal(ours["advantages"], rllibs["advantages"])
    assert ours["infos"] == rllibs["infos"]
    assert torch.equal(ours["actions"].double(), torch.from_numpy(ours["advantages"]))


def test_env_runners_keep_only_totals_of_running_episodes_and_report_them_whole():
    from collections import defaultdict

    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from callbacks import ReleaseEpisodeMemory

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=2)
        .callbacks(ReleaseEpisodeMemory)
    )
    env_runner = SingleAgentEnvRunner(config=config)
    lengths: dict[str, int] = defaultdict(int)
    finished = []
    for _ in range(40):  # 8 steps a sample: most episodes span several chunks
        for chunk in env_runner.sample(num_timesteps=8, random_actions=True):
            lengths[chunk.id_] += len(chunk)
            if chunk.is_done:
                finished.append(lengths[chunk.id_])
        kept = [c for cs in env_runner._ongoing_episodes_for_metrics.values() for c in cs]
        assert kept and all(isinstance(c, patches.ChunkTotals) for c in kept)
    assert max(finished) > 16
    metrics = env_runner.get_metrics()
    # CartPole pays 1 a step: each finished episode's length and return, from all its chunks.
    assert metrics["episode_len_mean"].peek() == pytest.approx(sum(finished) / len(finished))
    assert metrics["episode_return_mean"].peek() == pytest.approx(sum(finished) / len(finished))


def test_a_run_with_the_speed_patches_off_trains_records_and_checkpoints(tmp_path):
    proc = run_script(
        "--smoke", "--eval-interval", "1", "--no-report", "--storage", str(tmp_path),
        "--name", "plain", env={patches.SWITCH: "off"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    [trial] = [p for p in (tmp_path / "plain").iterdir() if p.is_dir()]
    assert list(trial.glob("checkpoint_*")) and list(trial.glob("videos/*.mp4"))


def test_an_early_ray_start_with_remote_env_runners_in_the_config_is_refused(tmp_path):
    script = tmp_path / "remote_runners.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(REPO)!r})
            from runner import start_local_ray_early
            start_local_ray_early()
            from ray.rllib.algorithms.ppo import PPOConfig
            from runner import Experiment, run
            config = PPOConfig().environment("CartPole-v1").env_runners(num_env_runners=1)
            run(Experiment(config, stop_return=450))
            """
        )
    )
    proc = run_script("--storage", str(tmp_path), script=script, timeout=180)
    assert proc.returncode != 0
    assert "remote_runners.py calls start_local_ray_early(), but its config starts remote" in (
        proc.stderr
    )
