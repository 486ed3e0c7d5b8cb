"""``train("cartpole_ppo", max_time=60, ...)``: training from Python (a notebook), as the
command line would, through the same ``train_argv`` as ``run()``."""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import replace
from typing import Any

from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from runner.cli import build_parser
from runner.experiment import Experiment
from runner.training import train_argv
from suite.errors import UsageError


def train(
    experiment: str | Experiment | AlgorithmConfig,
    *,
    stop_return: float | None = None,
    **flags: Any,
) -> tune.ResultGrid:
    """Train from Python (a notebook) as the command line would; return Tune's ResultGrid.

    ``experiment``: a script's name in ``experiments/`` (``"cartpole_ppo"``: its
    ``EXPERIMENT``, with config, stop return, sweep grid and ``--smoke`` settings), an
    ``Experiment``, or an AlgorithmConfig of your own (then ``stop_return`` is needed).
    ``stop_return`` also overrides a script's. ``flags``: the command line's flags by their
    Python names, e.g. ``train("cartpole_ppo", max_time=60, seed=1, video=False,
    track=["mlflow"], config={"num_epochs": 5}, sweep=True, seeds=3, name="mine",
    resume=True)``.

    Bad values raise ``UsageError`` (one line in a notebook) before any Ray starts. A second
    call reuses the Ray the first started. Interrupting the kernel (Ctrl-C) stops training
    with its state saved and prints the call that continues it.
    """
    if isinstance(experiment, str):
        script, declared = experiment, load_script(experiment).EXPERIMENT
    elif isinstance(experiment, Experiment):
        script, declared = config_name(experiment.config), experiment
    else:
        if stop_return is None:
            raise UsageError("train(config) needs stop_return= (a script's name brings its own)")
        script, declared = config_name(experiment), Experiment(experiment, stop_return)
    if stop_return is not None:
        declared = replace(declared, stop_return=stop_return)
    argv = as_argv(build_parser(f"{script}.py", declared), flags)
    again = ", ".join([repr(experiment) if isinstance(experiment, str) else "config"] + [
        f"{key}={value!r}" for key, value in flags.items() if key not in ("resume", "name")
    ])  # fmt: skip
    grid, _ = train_argv(
        declared,
        argv,
        script=script,
        started=time.time(),
        since="the train() call",
        resume_hint=f"train({again}, name='{{name}}', resume=True)",
    )
    return grid


def load_script(name: str) -> Any:
    """The module of the experiment script ``experiments/<name>.py`` (its ``EXPERIMENT``),
    from a checkout or an installed suite alike."""
    import experiments

    known = sorted(m.name for m in pkgutil.iter_modules(experiments.__path__))
    if name not in known:
        raise UsageError(f"no experiment {name!r}; there are: {', '.join(known)}")
    return importlib.import_module(f"experiments.{name}")


def config_name(config: AlgorithmConfig) -> str:
    """A name for experiments of a config of one's own, e.g. ``ppo_cartpole-v1``."""
    env = str(config.env or "env").split(":")[-1].lower()
    return f"{config.algo_class.__name__.lower()}_{env}"


def as_argv(parser: Any, flags: dict[str, Any]) -> list[str]:
    """``train()``'s keyword arguments as the command line: ``max_time=60`` → ``--max-time
    60``; True → the flag; False → ``--no-FLAG`` or nothing; a list → the flag per item;
    ``config={"lr": 1e-3}`` → ``--config lr=0.001``. An unknown name is a ``UsageError``."""
    options = parser._option_string_actions  # argparse's table of flags
    argv: list[str] = []
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if flag not in options or key == "help":
            raise UsageError(f"train() has no flag {key}= (its flags: experiments/X.py --help)")
        if value is None:
            continue
        if value is True:
            argv.append(flag)
        elif value is False:
            argv += ["--no-" + flag[2:]] if "--no-" + flag[2:] in options else []
        elif isinstance(value, dict):
            argv += [x for k, v in value.items() for x in (flag, f"{k}={v!r}")]
        elif isinstance(value, (list, tuple)):
            argv += [x for v in value for x in (flag, str(v))]
        else:
            argv += [flag, str(value)]
    return argv
