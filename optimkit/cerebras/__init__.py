"""The Cerebras API (``cerebras.pytorch.optim``) as a thin facade over optimkit.

:mod:`optimkit.cerebras.optim` holds the optimizers with Cerebras' signatures and defaults; every
update rule comes from :mod:`optimkit.optim`.

Example:
    >>> import torch
    >>> from optimkit.cerebras import configure_optimizer
    >>> opt = configure_optimizer("sgd", [torch.nn.Parameter(torch.ones(2))], learning_rate=0.1)
    >>> type(opt).__module__, opt.defaults["lr"]
    ('optimkit.cerebras.optim.optimizers', 0.1)
"""

from . import optim
from .optim import configure_lr_scheduler, configure_optimizer, configure_weight_decay_scheduler

__all__ = ["configure_lr_scheduler", "configure_optimizer", "configure_weight_decay_scheduler", "optim"]
