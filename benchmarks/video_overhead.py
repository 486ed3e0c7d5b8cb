"""Cost of evaluation videos: time to solve CartPole with video (the default) and without.

Both run experiments/cartpole_ppo.py at default settings (evaluation every 50 iterations in
both); only recording differs (--no-video). Runs alternate; round i runs both with --seed i,
so both train on the same episodes and the difference is the recording alone.

    python benchmarks/video_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from statistics import median

from cartpole_time_to_solve import alternate, table

from benchmarks import store

BENCHMARK = "video_overhead"

SYSTEMS = {"with video (default)": (), "--no-video": ("--no-video",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    print(f"machine: {store.calibration()}", flush=True)
    campaign = store.new_campaign(BENCHMARK)
    with tempfile.TemporaryDirectory() as storage:
        results = alternate(
            SYSTEMS, args.rounds, storage, seeds=list(range(1, args.rounds + 1)),
            on_run=lambda name, seed, figures: store.append(
                BENCHMARK, name, figures, campaign=campaign, seed=seed
            ),
        )  # fmt: skip
    table(results)
    for key in ("seconds", "training_s"):
        runs = list(zip(results["with video (default)"], results["--no-video"], strict=True))
        with_video = median(a[key] for a, _ in runs)
        without = median(b[key] for _, b in runs)
        # Both runs of a round share a seed, hence their episodes: the difference of a pair
        # is the recording plus this box's run-to-run noise.
        paired = median(a[key] - b[key] for a, b in runs)
        what = "time to solve" if key == "seconds" else "time inside training iterations"
        print(
            f"video overhead, median {what}: {100 * (with_video / without - 1):+.1f} % "
            f"({with_video:.1f} s vs {without:.1f} s); median paired difference "
            f"{paired:+.1f} s ({100 * paired / without:+.1f} %)"
        )
    # Less noisy than whole runs: what one evaluation round adds to its iteration.
    rounds = {
        name: median(s for run in runs for s in run["rounds_s"]) for name, runs in results.items()
    }
    with_video, without = rounds["with video (default)"], rounds["--no-video"]
    print(
        f"an evaluation round adds {with_video:.2f} s to its iteration with video, "
        f"{without:.2f} s without (median over every round): {with_video - without:.2f} s a video"
    )


if __name__ == "__main__":
    main()
