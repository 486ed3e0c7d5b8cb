"""The machinery every experiment script shares: ``run(config, ...)`` for the scripts,
``train("cartpole_ppo", max_time=60, ...)`` from Python, and what they call.

Read it top-down from ``runner/training.py``'s ``run()`` and ``train_argv()``:

- ``cli.py``       the command line every script shares, and its checks that need no RLlib;
- ``from_python.py`` ``train()``: the flags as keyword arguments, the scripts by name;
- ``storage.py``   where an experiment goes: ``--storage``, ``--name``, ``--resume``; a full disk;
- ``connect.py``   a local Ray of our own on 127.0.0.1, or a cluster;
- ``settings.py``  the command line applied to the script's AlgorithmConfig, and checked;
- ``tuner.py``     the Tune ``Tuner``: stop rule, checkpoints, sweeps, failures;
- ``console.py``   what the console shows: progress lines, the summary, errors;
- ``after_training.py`` the report: the best checkpoint restored, evaluated, written up;
- ``resume.py``    a killed experiment's saved state brought up to its trial directories;
- ``worker.py``    what every Ray worker does as it starts;

Below it, the ground floor (``suite/``): the error type, the registry of private internals.
"""

from runner import process_clock  # noqa: F401 (the clock of "time from process start" starts)
from suite.lazy import lazy_attributes

# ``run`` brings RLlib (seconds of imports): loaded on first use, so that a script can start
# its local Ray first (``start_local_ray_early``).
_LAZY = {
    "Experiment": "runner.experiment",
    "run": "runner.training",
    "train": "runner.from_python",
    "load_script": "runner.from_python",
    "UsageError": "suite.errors",
    "start_local_ray_early": "runner.connect",
}

__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = ["Experiment", "UsageError", "load_script", "run", "start_local_ray_early", "train"]
