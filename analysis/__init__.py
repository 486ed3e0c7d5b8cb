"""Read what experiments wrote: best trial and checkpoint, the restored policy, a report.

``python -m analysis DIR`` does it all from a terminal; the same functions serve notebooks
and the runner's end-of-training summary.
"""

from analysis.experiment import (
    EVAL_RETURN,
    TIMESTEPS,
    AnalysisError,
    Best,
    best_checkpoint,
    best_result,
    best_return,
    choose_best,
    completed,
    load_experiment,
    metric_label,
    trials_table,
    varying_keys,
)
from analysis.notebook import show_report, show_video
from analysis.policy import Episodes, Policy, RestoreError
from analysis.report import Analysis, analyse
from analysis.watch import watch

__all__ = [
    "Analysis",
    "Episodes",
    "Policy",
    "RestoreError",
    "analyse",
    "show_report",
    "show_video",
    "watch",
    "EVAL_RETURN",
    "TIMESTEPS",
    "AnalysisError",
    "Best",
    "best_checkpoint",
    "best_result",
    "best_return",
    "choose_best",
    "completed",
    "load_experiment",
    "metric_label",
    "trials_table",
    "varying_keys",
]
