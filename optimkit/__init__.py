"""optimkit: an independently written, drop-in re-implementation of ``torch.optim`` plus the
Cerebras optimizer API.

Importing ``optimkit`` is cheap; ``optimkit.optim`` (and torch with it) loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "flatten_parameters", "optim", "registry", "state_bytes"]


def __getattr__(name: str) -> Any:
    if name in ("optim", "registry"):
        return importlib.import_module(f"optimkit.{name}")
    if name == "flatten_parameters":
        return importlib.import_module("optimkit.optim._flat").flatten_parameters
    if name == "state_bytes":
        return importlib.import_module("optimkit.optim._lean").state_bytes
    raise AttributeError(f"module 'optimkit' has no attribute {name!r}")
