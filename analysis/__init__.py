"""Read what experiments wrote: best trial and checkpoint, the restored policy, a report.

``python -m analysis DIR`` does it all from a terminal; the same functions serve notebooks
and the runner's end-of-training summary.
"""

from analysis.experiment import (
    EVAL_RETURN,
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
from analysis.watch import watch  # eager: the submodule of that name would shadow it
from suite.lazy import lazy_attributes

# Restoring, plotting and video pull in RLlib's env runner, matplotlib and OpenCV (slow):
# imported on first use, so a training script that only reads results starts without them.
_LAZY = {
    "show_report": "analysis.notebook",
    "show_video": "analysis.notebook",
    "Episodes": "analysis.policy",
    "Policy": "analysis.policy",
    "RestoreError": "analysis.policy",
    "record": "analysis.policy",
    "Analysis": "analysis.report",
    "analyse": "analysis.report",
}

__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "Analysis",
    "Episodes",
    "Policy",
    "RestoreError",
    "analyse",
    "record",
    "show_report",
    "show_video",
    "watch",
    "EVAL_RETURN",
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
