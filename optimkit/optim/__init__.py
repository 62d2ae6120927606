"""optimkit's counterpart of :mod:`torch.optim`: same class names, arguments, defaults, state keys
and ``state_dict`` layout, written independently over one executor (see ``_executor.py``).

Example:
    >>> import torch, optimkit.optim as optim
    >>> issubclass(optim.AdamW, torch.optim.Optimizer)
    True
"""

from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "SGD"]
