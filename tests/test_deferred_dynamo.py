"""runner/deferred_dynamo.py: training without importing torch._dynamo, compiling still works.

Each check runs in a fresh interpreter: the stand-in lives in sys.modules.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

TRAIN = """
import sys
import torch
import runner.deferred_dynamo as deferred

def train(steps=5):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return optimizer, losses

def real_dynamo_loaded():
    return type(sys.modules.get("torch._dynamo")).__name__ == "module"
"""


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", TRAIN + textwrap.dedent(code)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_an_optimizer_trains_the_same_without_importing_dynamo():
    out = _run(
        """
        optimizer, losses = train()
        assert not real_dynamo_loaded(), "the optimizer imported torch._dynamo"
        import torch._dynamo  # what a user's code may do; using it loads the real module
        assert torch._dynamo.is_compiling() is False and real_dynamo_loaded()
        _, again = train()
        assert losses == again, (losses, again)  # same numbers with dynamo loaded
        print("ok", losses[-1] < losses[0])
        """
    )
    assert out.split() == ["ok", "True"]


def test_compiling_after_training_loads_dynamo_and_works():
    out = _run(
        """
        optimizer, _ = train()
        f = torch.compile(lambda t: torch.sin(t) + 1, backend="eager")
        assert torch.allclose(f(torch.zeros(3)), torch.ones(3))
        assert real_dynamo_loaded() and sys.modules["torch._dynamo"] is torch._dynamo
        compiled = torch.compile(train, backend="eager")  # optimizer steps under dynamo
        _, losses = compiled(3)
        torch.use_deterministic_algorithms(True)  # what RLlib's seeding calls
        print("ok", len(losses))
        """
    )
    assert out.split() == ["ok", "3"]
