"""RLlib callbacks the runner adds to every experiment: the return window the stop rule
reads, evaluation videos, a final evaluation round when a stop rule is met, one episode per
env in an evaluation round, torch threads for a learner in the trial's own process, and
memory that grew with episode length handed back. The final round, the one episode per env
and the threads act on training or evaluation (one more ``evaluate()``, envs parked until
the round ends, the learner's thread count); the others only observe it.

Loaded on first use: ``callbacks.tracking_servers`` is read by the command line's checks
before RLlib is imported, and must not bring RLlib in with this package."""

from suite.lazy import lazy_attributes

_LAZY = {
    "RETURN_METRIC": "callbacks.episode_returns",
    "EpisodeReturnWindow": "callbacks.episode_returns",
    "EvalVideo": "callbacks.eval_video",
    "FinalEvaluation": "callbacks.final_evaluation",
    "ReleaseEpisodeMemory": "callbacks.episode_memory",
}

__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "RETURN_METRIC",
    "EpisodeReturnWindow",
    "EvalVideo",
    "FinalEvaluation",
    "ReleaseEpisodeMemory",
]
