"""optimkit's counterpart of ``cerebras.pytorch.optim``: the Cerebras optimizer API.

The classes have Cerebras' names, signatures and defaults (``Adam``/``AdamW`` with ``eps=1e-6``,
``AdamW(correct_bias=...)``, a required ``lr`` for ``SGD``, the Hugging Face-style ``Adafactor``),
create their state when constructed, and run the update rules of :mod:`optimkit.optim`;
:class:`AdamBase` is the common base of ``Adam`` and ``AdamW``, as in Cerebras' package.
:func:`configure_optimizer` builds one by name from config-file keyword arguments.

Example:
    >>> import torch
    >>> import optimkit.cerebras.optim as cstorch_optim
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = cstorch_optim.SGD([w], lr=0.1, momentum=0.9)
    >>> isinstance(opt, cstorch_optim.Optimizer), isinstance(opt, torch.optim.Optimizer)
    (True, True)
"""

from .adafactor import Adafactor
from .configure import configure_optimizer
from . import lr_scheduler
from .scheduler_config import configure_lr_scheduler, configure_weight_decay_scheduler
from .optimizer import Optimizer
from .optimizers import (
    ASGD, SGD, Adadelta, Adagrad, Adam, Adamax, AdamBase, AdamW, Lamb, Lion, NAdam, RAdam, RMSprop, Rprop,
)

__all__ = [
    "ASGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamBase", "AdamW", "Adamax", "Lamb", "Lion", "NAdam",
    "Optimizer", "RAdam", "RMSprop", "Rprop", "SGD", "configure_lr_scheduler", "configure_optimizer",
    "configure_weight_decay_scheduler", "lr_scheduler",
]
