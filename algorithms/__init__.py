"""Algorithms RLlib no longer ships: vanilla policy gradient (``algorithms.pg``)."""

from algorithms.pg import PG, PGConfig, discounted_returns

__all__ = ["PG", "PGConfig", "discounted_returns"]
