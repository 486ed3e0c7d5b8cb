"""RLlib callbacks the runner adds to every experiment: the return window the stop rule
reads, evaluation videos, a final evaluation round when a stop rule is met, torch threads
for a learner in the trial's own process, and memory that grew with episode length handed
back. The final round and the threads act on training (one more ``evaluate()``, the
learner's thread count); the others only observe it."""

from callbacks.episode_memory import ReleaseEpisodeMemory
from callbacks.episode_returns import RETURN_METRIC, EpisodeReturnWindow
from callbacks.eval_video import EvalVideo
from callbacks.final_evaluation import FinalEvaluation

__all__ = [
    "RETURN_METRIC",
    "EpisodeReturnWindow",
    "EvalVideo",
    "FinalEvaluation",
    "ReleaseEpisodeMemory",
]
