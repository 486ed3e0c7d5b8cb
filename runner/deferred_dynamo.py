"""A stand-in for ``torch._dynamo`` until something really uses it (listed in suite/patches.py).

Every torch optimizer step runs ``import torch._dynamo; torch._dynamo.graph_break()``
(``torch.optim.optimizer._use_grad_for_differentiable``), and that import is slow (sympy,
the FX machinery), on the critical path of a trial's first iteration. ``graph_break()``
matters only while dynamo traces, and nothing traces before dynamo is imported. So the
stand-in's ``graph_break()`` does nothing until the real module is loaded; anything else
asked of it (``torch.compile``, ``torch_compile_learner``, a seed's
``torch.use_deterministic_algorithms``) imports the real module, which from then on
replaces the stand-in everywhere.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from suite.patches import speed_patches_on

_NAME = "torch._dynamo"


class _DeferredDynamo(types.ModuleType):
    def graph_break(self, *args: Any, **kwargs: Any) -> None:
        real = _loaded()
        if real is not None:
            real.graph_break(*args, **kwargs)

    def disable(self, fn: Any = None, recursive: bool = True, **kwargs: Any) -> Any:
        """What torch's own ``_disable_dynamo`` asks for, on every optimizer's first calls:
        ``fn`` as it is while nothing compiles, dynamo's ``disable(fn)`` once it might."""
        real = _loaded()
        if real is not None or fn is None:
            return (real or _load()).disable(fn, recursive, **kwargs)
        disabled = None

        def call(*args: Any, **kw: Any) -> Any:
            nonlocal disabled
            if disabled is None:
                real = _loaded()
                if real is None:
                    return fn(*args, **kw)
                disabled = real.disable(fn, recursive, **kwargs)
            return disabled(*args, **kw)

        return call

    def __getattr__(self, name: str) -> Any:
        # Module-wide scans (inspect.getmodule, on every RLlib connector built) ask each
        # module in sys.modules for __file__: not a reason to import dynamo. A submodule
        # import asks for __path__: it needs the real package.
        if name.startswith("__") and name.endswith("__") and name != "__path__":
            raise AttributeError(name)
        return getattr(_load(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_load(), name, value)


_stand_in = _DeferredDynamo(_NAME)


def _loaded() -> types.ModuleType | None:
    """The real ``torch._dynamo`` if something has imported it."""
    module = sys.modules.get(_NAME)
    return None if module is None or module is _stand_in else module


def _load() -> types.ModuleType:
    """The real ``torch._dynamo``, imported now if it is not yet."""
    import torch

    if sys.modules.get(_NAME) is _stand_in:
        del sys.modules[_NAME]
    if torch.__dict__.get("_dynamo") is _stand_in:
        del torch._dynamo
    return importlib.import_module(_NAME)


def install() -> bool:
    """Put the stand-in in place; False where dynamo is loaded already."""
    import torch

    if _NAME in sys.modules or "_dynamo" in torch.__dict__:
        return False
    sys.modules[_NAME] = _stand_in
    torch._dynamo = _stand_in  # what `import torch._dynamo` binds and then looks up
    return True


if speed_patches_on():  # Ray's workers import this module as they start
    install()
