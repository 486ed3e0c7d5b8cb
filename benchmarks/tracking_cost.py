"""What ``--track`` costs on a default CartPole PPO run: time to solve without tracking,
with W&B (offline mode) and with MLflow (a local file store), side by side.

Runs alternate, and each round's runs share a seed, so they train on the same episodes; the
time is from process start to the solving result (see cartpole_time_to_solve.py).

    pip install -e ".[track]" && python benchmarks/tracking_cost.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from statistics import median

from cartpole_time_to_solve import alternate, table

from benchmarks import store

BENCHMARK = "tracking_cost"

SYSTEMS = {
    "no tracking": (),
    "--track wandb (WANDB_MODE=offline)": ("--track", "wandb"),
    "--track mlflow (sqlite store)": ("--track", "mlflow"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    os.environ.update(WANDB_MODE="offline")
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
    plain = median(r["seconds"] for r in results["no tracking"])
    for name, rows in results.items():
        cost = median(r["seconds"] for r in rows) / plain - 1
        print(f"cost against no tracking: {cost:+.1%}  {name}")


if __name__ == "__main__":
    main()
