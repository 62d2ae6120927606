"""optimkit's counterpart of :mod:`torch.optim`: same class names, arguments, defaults, state keys
and ``state_dict`` layout, written independently over one executor (see ``_executor.py``).

Example:
    >>> import torch, optimkit.optim as optim
    >>> issubclass(optim.AdamW, torch.optim.Optimizer)
    True
"""

from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lamb import Lamb
from .lbfgs import LBFGS
from .lion import Lion
from .muon import Muon
from ._lean import convert_state, state_bytes
from ._nonfinite import NonFiniteGuard, nonfinite_grads, skip_nonfinite
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedule_free import AdamWScheduleFree, SGDScheduleFree
from .sgd import SGD
from .sparse_adam import SparseAdam

from . import lr_scheduler
from . import swa_utils

__all__ = ["ASGD", "AdaBelief", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "AdamWScheduleFree", "Adamax", "LBFGS", "Lamb", "Lion", "Muon", "NAdam", "NonFiniteGuard", "Optimizer", "RAdam", "RMSprop", "Rprop", "SGD", "SGDScheduleFree", "SparseAdam", "convert_state", "lr_scheduler", "nonfinite_grads", "skip_nonfinite", "state_bytes", "swa_utils"]
