"""What an experiment script declares, once: its ``Experiment``, which ``run()``, ``train()``
and ``--help`` read, and nothing else of the script."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Experiment:
    """One experiment: the config it trains and what the command line needs of it.

    ``config``: the AlgorithmConfig. ``stop_return``: ``--stop-return``'s default (the mean
    return of the last 100 training episodes). ``sweep``: the grid ``--sweep`` runs.
    ``sweep_budget``: env steps after which a sweep's trial stops unsolved, unless
    ``--max-timesteps`` or ``--max-time`` says otherwise. ``smoke``: config settings that make
    ``--smoke`` quick, applied before ``--config``. ``presets``: named configs ``--preset
    NAME`` trains instead of ``config``.
    """

    config: Any  # an AlgorithmConfig (not imported here: a script may start Ray before RLlib)
    stop_return: float
    sweep: dict[str, Any] | None = None
    sweep_budget: int | None = None
    smoke: dict[str, Any] | None = None
    presets: dict[str, Any] = field(default_factory=dict)
