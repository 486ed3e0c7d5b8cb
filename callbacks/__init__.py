"""RLlib callbacks that observe training and never change it."""

from callbacks.episode_returns import RETURN_METRIC, EpisodeReturnWindow
from callbacks.final_evaluation import FinalEvaluation
from callbacks.video import EvalVideo

__all__ = ["RETURN_METRIC", "EpisodeReturnWindow", "EvalVideo", "FinalEvaluation"]
