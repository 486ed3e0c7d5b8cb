"""algorithms/pg.py: vanilla policy gradient on RLlib's new API stack."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import REPO, load_script, run_script

from algorithms.pg import discounted_returns, standardized
from analysis import best_return

CARTPOLE_PG = REPO / "experiments" / "cartpole_pg.py"


def test_discounted_returns_match_hand_computed_vectors():
    rewards = np.array([0, 0, 1, 0, -1], np.float32)
    # G_t = r_t + 0.5 · G_{t+1}, from the end: -1, -0.5, 0.75, 0.375, 0.1875
    np.testing.assert_allclose(discounted_returns(rewards, 0.5), [0.1875, 0.375, 0.75, -0.5, -1.0])
    # Reset at every point: the +1 at t=2 starts afresh, it does not see the -1 after it.
    np.testing.assert_allclose(
        discounted_returns(rewards, 0.5, reset_on_reward=True), [0.25, 0.5, 1.0, -0.5, -1.0]
    )
    np.testing.assert_allclose(standardized(np.array([1.0, 3.0])), [-1.0, 1.0])
    np.testing.assert_allclose(standardized(np.array([2.0, 2.0])), [0.0, 0.0])


def test_pg_learns_cartpole_to_150(ray_session, tmp_path):
    script = load_script(CARTPOLE_PG)
    grid = script.run(
        replace(script.EXPERIMENT, stop_return=150),
        script="cartpole_pg",
        argv=[
            "--max-timesteps", "150000", "--eval-interval", "0", "--no-report", "--seed", "0",
            "--storage", str(tmp_path), "--name", "pg",
        ],
    )  # fmt: skip
    [result] = list(grid)
    assert result.error is None
    assert best_return(result) >= 150, result.metrics_dataframe["return_last100"].tail()


def test_unknown_optimizer_is_a_one_line_error(tmp_path):
    proc = run_script(
        "--config", "optimizer=adagrad", "--storage", str(tmp_path), script=CARTPOLE_PG, timeout=120
    )
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "optimizer must be one of ('adam', 'rmsprop', 'sgd'), got 'adagrad'" in line


@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd"])
def test_optimizer_choice_builds_that_torch_optimizer(ray_session, optimizer):
    import torch

    from algorithms.pg import PGConfig

    config = (
        PGConfig()
        .environment("CartPole-v1")
        .training(optimizer=optimizer, rmsprop_decay=0.9, lr=0.01)
    )
    algo = config.build_algo()
    try:
        learner = algo.learner_group._learner
        [opt] = learner._named_optimizers.values()
        expected = {"rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}[optimizer]
        assert isinstance(opt, expected)
        if optimizer == "rmsprop":
            assert opt.defaults["alpha"] == 0.9
    finally:
        algo.stop()


def test_pg_trains_on_every_step_it_samples_as_whole_episodes(ray_session):
    import itertools

    from ray.rllib.core.columns import Columns

    from algorithms.pg import DiscountedReturns, PGConfig

    config = (
        PGConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=4)
        .training(episodes_per_batch=6)
    )
    algo = config.build_algo()
    try:
        trained, sampled = [], 0
        for _ in range(5):
            pieces, metrics = algo._sample_episodes()
            episodes = [list(g) for _, g in itertools.groupby(pieces, key=lambda p: p.id_)]
            assert len(episodes) >= 6
            trained += episodes
            sampled += sum(m["num_env_steps_sampled"].peek() for m in metrics)
        # An episode cut between sampling calls comes as its consecutive pieces, reset to end.
        for pieces in trained:
            assert pieces[0].t_started == 0 and pieces[-1].is_done
            assert all(not p.is_done for p in pieces[:-1])
            assert all(a.t == b.t_started for a, b in itertools.pairwise(pieces))
        assert any(len(pieces) > 1 for pieces in trained)
        assert len({pieces[0].id_ for pieces in trained}) == len(trained)
        # Every sampled step is in a trained episode or in one still being played.
        playing = sum(len(p) for pieces in algo._unfinished.values() for p in pieces)
        assert sum(len(p) for pieces in trained for p in pieces) + playing == sampled
        # Returns run across the cuts: the pieces get those of their whole episode.
        connector = DiscountedReturns(gamma=0.9, reset_on_reward=False, standardize="episode")
        batch = connector(rl_module=None, episodes=[p for ps in trained for p in ps], batch={})
        for pieces in trained:
            rewards = np.concatenate([p.get_rewards() for p in pieces])
            np.testing.assert_allclose(
                np.concatenate(batch[Columns.RETURNS_TO_GO][(pieces[0].id_,)]),
                standardized(discounted_returns(rewards, 0.9)),
                atol=1e-5,
            )
    finally:
        algo.stop()
