"""One script per experiment: ``python experiments/cartpole_ppo.py`` in a checkout, or
``python -m experiments.cartpole_ppo`` and ``train("cartpole_ppo")`` where the suite is
installed (``pip install .``), from any directory."""
