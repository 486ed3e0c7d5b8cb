"""RLlib callbacks that observe training and never change it."""

from callbacks.episode_returns import RETURN_METRIC, EpisodeReturnWindow

__all__ = ["RETURN_METRIC", "EpisodeReturnWindow"]
