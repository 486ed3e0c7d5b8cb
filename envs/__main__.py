"""``python -m envs ENV_ID``: print an environment's spaces and limits."""

from __future__ import annotations

import argparse
import sys

from envs import describe_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envs", description=__doc__)
    parser.add_argument("env_id", help="a gymnasium id, e.g. CartPole-v1 or ALE/Pong-v5")
    args = parser.parse_args(argv)
    try:
        facts = describe_env(args.env_id)
    except ValueError as err:
        print(f"python -m envs: error: {err}", file=sys.stderr)
        return 2
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
