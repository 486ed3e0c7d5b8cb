"""Cost of evaluation videos: time to solve CartPole with video (the default) and without.

Both run experiments/cartpole_ppo.py at default settings (evaluation every 20 iterations in
both); only recording differs (--no-video). Runs alternate; round i runs both with --seed i,
so both train on the same episodes and the difference is the recording alone.

    python benchmarks/video_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from statistics import median

from cartpole_time_to_solve import alternate, table

SYSTEMS = {"with video (default)": (), "--no-video": ("--no-video",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as storage:
        results = alternate(SYSTEMS, args.rounds, storage, seeded=True)
    table(results)
    for key in ("seconds", "training_s"):
        with_video = median(r[key] for r in results["with video (default)"])
        without = median(r[key] for r in results["--no-video"])
        what = "time to solve" if key == "seconds" else "time inside training iterations"
        print(
            f"video overhead, median {what}: {100 * (with_video / without - 1):+.1f} % "
            f"({with_video:.1f} s vs {without:.1f} s)"
        )


if __name__ == "__main__":
    main()
