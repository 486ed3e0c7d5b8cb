"""Algorithms RLlib no longer ships (vanilla policy gradient arrives with the Pong issue)."""
