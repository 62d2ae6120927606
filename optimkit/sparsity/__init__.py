"""Weight sparsity on any optimizer: masks kept on the parameters and the optimizer's state.

Cerebras' optimizer API names the per-parameter states shaped like their parameter
(``optimizer.state_names_to_sparsify()``) so that a sparsity algorithm can mask them with the
weights. This package is such an algorithm, in four kinds, built by name from a mapping, as
Cerebras' ``cerebras.pytorch.sparse`` configures them:

========  =====================================================================================
static    one mask, chosen at configure time (smallest magnitudes, or at random)
gmp       gradual magnitude pruning (Zhu & Gupta 2017): a cubic ramp up to the target level
set       Sparse Evolutionary Training (Mocanu et al. 2018): drop the smallest, regrow at random
rigl      Rigging the Lottery (Evci et al. 2020): drop the smallest, regrow the largest gradients
========  =====================================================================================

:func:`configure` returns the algorithm; call its ``step()`` after every ``optimizer.step()``.
It keeps a bool mask per sparsified parameter (``.masks``: parameter -> mask, ``True`` where
the entry is kept) and, after each step, zeroes the pruned entries of the parameter, of its
gradient and of every state ``state_names_to_sparsify()`` names; a step pre-hook zeroes the
gradient's pruned entries before the update as well. By default the parameters with 2 or more
dimensions are sparsified (weight matrices, convolution kernels, embeddings; not biases or
normalization scales); ``params`` (or Cerebras' ``param_filter``) takes glob patterns over
parameter names (``"!pattern"`` leaves out), parameters, or a predicate.

A config file's top-level ``sparsity`` section is the same mapping:
:func:`optimkit.config.load` configures it on the optimizer it builds, stepped by a step
post-hook after every ``optimizer.step()``; :func:`attached` finds it.

The algorithm's state (masks, step count, its random stream) is its ``state_dict()``, and
rides in the optimizer's ``state_dict()`` under ``"sparsity"``: loading either resumes a run
bit for bit. See ``docs/sparsity.md`` for the algorithms' math and every key.

Example:
    >>> import torch
    >>> from optimkit.optim import AdamW
    >>> from optimkit import sparsity
    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    >>> opt = AdamW(model.parameters(), lr=1e-3)
    >>> pruning = sparsity.configure(opt, {"algorithm": "gmp", "sparsity": 0.8,
    ...                                    "schedule": {"start": 0, "end": 100, "freq": 10}})
    >>> for _ in range(100):
    ...     loss = model(torch.randn(16, 32)).pow(2).mean()
    ...     opt.zero_grad(); loss.backward(); opt.step(); pruning.step()
    >>> round(pruning.actual_sparsity(), 3), sorted(opt.state_names_to_sparsify())
    (0.8, ['exp_avg', 'exp_avg_sq'])
    >>> w = model[0].weight
    >>> bool((w[~pruning.masks[w]] == 0).all() and (opt.state[w]["exp_avg"][~pruning.masks[w]] == 0).all())
    True
"""

from __future__ import annotations

from ..registry import list_sparsity as algorithm_names
from ._algorithms import GMP, SET, RigL, Static
from ._base import SparsityAlgorithm, attached
from ._config import configure
from ._params import ParamFilter
from ._schedules import GMPSchedule, UpdateSchedule

__all__ = [
    "GMP",
    "GMPSchedule",
    "ParamFilter",
    "RigL",
    "SET",
    "SparsityAlgorithm",
    "Static",
    "UpdateSchedule",
    "algorithm_names",
    "attached",
    "configure",
]
