r"""The Cerebras optimizers (``cerebras.pytorch.optim``) as thin facades over :mod:`optimkit.optim`.

Each class has the signature and defaults that Cerebras documents and runs the optimkit class
that owns the update rule; no rule is written here. The classes are generated
(:mod:`._facades`) from the table :data:`FACADES`: one row per optimizer, giving its optimkit
parent, Cerebras' arguments in Cerebras' order, the defaults Cerebras spells differently, the group
options it adds, whether Cerebras turns the global step on, and its registry description and
example. Signatures, docstrings (the parent's mathematics and argument descriptions, with Cerebras'
defaults) and registry flags are derived from the row and the parent. Where Cerebras differs from
torch in the mathematics, the shared rule has a switch (``AdamW(correct_bias=False)`` turns off the
bias correction of :func:`optimkit.optim.adam.adam_rule`). Cerebras' Adafactor is a different
algorithm and lives in :mod:`optimkit.cerebras.optim.adafactor`.

What the facades share (see :class:`~optimkit.cerebras.optim.Optimizer`): the state is created by
the constructor (``preinitialize()``), and the classes Cerebras builds with
``enable_global_step=True`` (ASGD, Adafactor, Adagrad, NAdam, RAdam) keep a per-parameter float32
``global_step``. The per-parameter state otherwise has optimkit's (that is, torch's) keys, so
``state_dict()`` cross-loads with :mod:`torch.optim` and :mod:`optimkit.optim`. :class:`Adam` and
:class:`AdamW` also share :class:`AdamBase`, whose ``load_state_dict`` reads the checkpoints of
the optimizers they replace (torch's Adam, Hugging Face's AdamW).

Deviations from Cerebras' own kernels, kept on purpose so that every rule exists once:

* Adam/AdamW add ``eps`` to :math:`\sqrt{v_t/(1-\beta_2^t)}` as torch does; Cerebras' kernel adds
  it to :math:`\sqrt{v_t}` before correcting, which is the same update with
  :math:`\epsilon\sqrt{1-\beta_2^t}` in place of :math:`\epsilon` (a difference only in the first
  few hundred steps, and only where :math:`\sqrt{v_t}` is comparable to :math:`\epsilon`).
* SGD with ``dampening > 0`` starts its momentum buffer at the first gradient, as torch does;
  Cerebras starts it at zero, so its first step is scaled by :math:`1 - \text{dampening}`.
"""

from __future__ import annotations

import abc
from typing import Any

import optimkit.optim as _optim
from optimkit.optim import Optimizer as _OptimkitOptimizer

from ._facades import REQUIRED, Facade, Option, build_facade, register_facade
from .optimizer import Optimizer

__all__ = [
    "ASGD", "Adadelta", "Adagrad", "Adam", "AdamBase", "AdamW", "Adamax", "FACADES", "Lamb", "Lion", "NAdam",
    "RAdam", "RMSprop", "Rprop", "SGD",
]


# ------------------------------------------------------------------------ the Adam family
@Optimizer.register
class AdamBase(_OptimkitOptimizer, abc.ABC):
    r"""The common base of :class:`Adam` and :class:`AdamW` (``cerebras.pytorch.optim.AdamBase``).

    Both run the Adam rule of :mod:`optimkit.optim` (:class:`Adam` is :class:`optimkit.optim.Adam`,
    :class:`AdamW` is :class:`optimkit.optim.AdamW` with Cerebras' ``correct_bias`` switch); this
    base holds what they share on top of it: loading the checkpoints of the optimizers they
    replace (:meth:`load_state_dict`). ``isinstance(opt, AdamBase)`` tells the Adam family
    apart, as with Cerebras' classes.

    It is abstract, having no rule of its own: build an :class:`Adam` or an :class:`AdamW`.
    (Cerebras' ``AdamBase`` can be built, with both a decoupled ``weight_decay`` and an
    ``l2_regularization_rate``; its ``Adam`` sets the second, its ``AdamW`` the first, and those
    two classes are what Cerebras documents for use. Here the kind of decay is the group's
    ``decoupled_weight_decay``, as in torch.)

    The state has torch's layout (``step``, ``exp_avg``, ``exp_avg_sq``, with AMSGrad
    ``max_exp_avg_sq``), where Cerebras keeps :math:`\beta_1^t` and :math:`\beta_2^t` as
    ``beta1_power`` and ``beta2_power`` instead of ``step``: a checkpoint written by Cerebras'
    own Adam or AdamW is rejected (``load_state_dict`` names those entries and leaves the
    optimizer untouched).

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim import SGD, Adam, AdamBase, AdamW
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> [isinstance(opt, AdamBase) for opt in (Adam([w]), AdamW([w]), SGD([w], lr=0.1))]
        [True, True, False]
        >>> try:
        ...     AdamBase([w], {})
        ... except TypeError as error:  # no rule of its own
        ...     print("abstract" in str(error), "_rule" in str(error))
        True True
    """

    @staticmethod
    @abc.abstractmethod
    def _rule(*args: Any, **kwargs: Any) -> None:
        """The update over lists of tensors: :func:`optimkit.optim.adam.adam_rule`, which the
        concrete classes take from their optimkit parent."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict`` of this class, of torch's Adam or AdamW, or of Hugging Face's AdamW.

        As Cerebras documents them, :class:`Adam` loads ``torch.optim.Adam`` checkpoints and
        :class:`AdamW` loads those of Hugging Face's ``transformers.AdamW``, which differ from
        torch's in their layout:

        * ``step`` is a Python ``int`` (also in torch releases before 1.12): it becomes this
          class's 0-dim float32 ``step`` tensor;
        * a group has only ``lr``, ``betas``, ``eps``, ``weight_decay`` and ``correct_bias``: the
          options torch's classes add take the values of the algorithm that wrote the checkpoint
          (no AMSGrad, no ``maximize``; AdamW's decay stays decoupled);
        * each group keeps its own ``correct_bias``; a torch checkpoint, which has none, corrects.

        :class:`Adam` always corrects the bias, as Cerebras' Adam does: a ``correct_bias`` in the
        checkpoint (a Hugging Face AdamW one) is ignored, and its ``weight_decay`` is an L2
        penalty, as in any Adam checkpoint. Training continues with this class's rule (torch's
        placement of ``eps``, see the module docstring), not Hugging Face's. Everything else is
        :meth:`optimkit.optim.Optimizer.load_state_dict`: the dict is checked before anything
        is loaded.

        Example:
            A Hugging Face-style checkpoint after 3 steps, one parameter:

            >>> import torch
            >>> from optimkit.cerebras.optim import AdamW
            >>> w = torch.nn.Parameter(torch.ones(2))
            >>> hf = {"state": {0: {"step": 3, "exp_avg": torch.full((2,), 0.1), "exp_avg_sq": torch.full((2,), 0.01)}},
            ...       "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0,
            ...                         "correct_bias": False, "params": [0]}]}
            >>> opt = AdamW([w])
            >>> opt.load_state_dict(hf)
            >>> opt.state[w]["step"], opt.param_groups[0]["correct_bias"], opt.param_groups[0]["amsgrad"]
            (tensor(3.), False, False)
        """
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if "correct_bias" not in self.defaults and isinstance(groups, list):
            # Adam has no such option (its rule would still read one from a loaded group).
            ignored = [{key: value for key, value in group.items() if key != "correct_bias"}
                       if isinstance(group, dict) else group for group in groups]
            state_dict = {**state_dict, "param_groups": ignored}
        super().load_state_dict(state_dict)


# ---------------------------------------------------------------------------------- table
# The first lines of every example: a parameter to optimize with the class of the row.
_IMPORT = """\
    >>> import torch
    >>> from optimkit.cerebras.optim import {}
    >>> w = torch.nn.Parameter(torch.ones(2))
"""

# Cerebras' arguments and defaults as documented (training-docs.cerebras.ai, cerebras.pytorch.optim,
# the 2.x releases); tests/cerebras/test_optimizers.py checks each class against torch.optim (or a
# per-element reference) with every documented default spelled out.
FACADES: tuple[Facade, ...] = (
    Facade(
        "ASGD", _optim.ASGD,
        arguments=("lr", "lambd", "alpha", "t0", "weight_decay", "maximize"),
        global_step=True,
        description="Averaged SGD (Cerebras signature; global step on).",
        example=_IMPORT.format("ASGD") + """\
    >>> opt = ASGD([w], lr=0.1)
    >>> sorted(opt.state[w])  # created by the constructor
    ['ax', 'eta', 'global_step', 'mu', 'step']
""",
    ),
    Facade(
        "Adadelta", _optim.Adadelta,
        arguments=("lr", "rho", "eps", "weight_decay", "maximize"),
        description="Adadelta (Cerebras signature).",
        example=_IMPORT.format("Adadelta") + """\
    >>> sorted(Adadelta([w]).state[w])
    ['acc_delta', 'square_avg', 'step']
""",
    ),
    Facade(
        "Adagrad", _optim.Adagrad,
        arguments=("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"),
        defaults={"eps": 1e-6},
        global_step=True,
        description="Adagrad with eps=1e-6 (Cerebras signature; global step on).",
        example=_IMPORT.format("Adagrad") + """\
    >>> opt = Adagrad([w])
    >>> opt.defaults["eps"], opt.enable_global_step
    (1e-06, True)
""",
    ),
    Facade(
        "Adam", _optim.Adam,
        arguments=("lr", "betas", "eps", "weight_decay", "amsgrad"),
        defaults={"eps": 1e-6, "weight_decay": 0.0},
        bases=(AdamBase,),
        description="Adam with eps=1e-6 (Cerebras signature).",
        summary="``weight_decay`` is an L2 penalty added to the gradient; see :class:`AdamBase` for checkpoints.",
        example=_IMPORT.format("Adam") + """\
    >>> Adam([w]).defaults["eps"]
    1e-06
""",
    ),
    Facade(
        "AdamW", _optim.AdamW,
        arguments=("lr", "betas", "eps", "weight_decay", "correct_bias", "amsgrad"),
        defaults={"eps": 1e-6, "weight_decay": 0.0},
        options={"correct_bias": Option(bool, True, r"divide the moments by :math:`1-\beta^t`; False drops "
                                                    "both corrections, as the optimizer of the original BERT does")},
        bases=(AdamBase,),
        description="AdamW with eps=1e-6 and an optional bias correction (Cerebras signature).",
        summary="``correct_bias=False`` drops the bias correction (the optimizer of the original BERT); see "
                ":class:`AdamBase` for checkpoints.",
        notes=r"""With ``correct_bias=False`` (per parameter group), the last line of the update is

.. math::
   \theta_t \leftarrow \theta_{t-1} - \gamma\, \frac{m_t}{\sqrt{\hat v_t} + \epsilon}
""",
        docs={"weight_decay": r"decoupled weight decay :math:`\lambda`: each step first shrinks the weights by "
                              r":math:`\gamma\lambda` of themselves"},
        example=_IMPORT.format("AdamW") + """\
    >>> opt = AdamW([w], lr=0.1, correct_bias=False)
    >>> w.grad = torch.full((2,), 0.5); opt.step()
    >>> w.detach()  # m = 0.05, sqrt(v) = 0.0158...: one step of 0.1 * 3.16...
    tensor([0.6838, 0.6838])
""",
    ),
    Facade(
        "Adamax", _optim.Adamax,
        arguments=("lr", "betas", "eps", "weight_decay", "maximize"),
        defaults={"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.0},
        description="Adamax with lr=1e-3 and eps=1e-6 (Cerebras signature).",
        example=_IMPORT.format("Adamax") + """\
    >>> Adamax([w]).defaults["lr"]
    0.001
""",
    ),
    Facade(
        "Lamb", _optim.Lamb,
        arguments=("lr", "betas", "eps", "weight_decay", "adam"),
        description="Lamb, Adam steps rescaled by a per-tensor trust ratio (Cerebras signature).",
        example=_IMPORT.format("Lamb") + """\
    >>> sorted(Lamb([w]).state[w])
    ['exp_avg', 'exp_avg_sq', 'step']
""",
    ),
    Facade(
        "Lion", _optim.Lion,
        arguments=("lr", "betas", "weight_decay"),
        description="Lion, the sign of an interpolated momentum (Cerebras signature).",
        example=_IMPORT.format("Lion") + """\
    >>> opt = Lion([w], lr=0.1)
    >>> w.grad = torch.tensor([0.3, -2.0]); opt.step()
    >>> w.detach()
    tensor([0.9000, 1.1000])
""",
    ),
    Facade(
        "NAdam", _optim.NAdam,
        arguments=("lr", "betas", "eps", "weight_decay", "momentum_decay"),
        global_step=True,
        description="NAdam (Cerebras signature; global step on).",
        example=_IMPORT.format("NAdam") + """\
    >>> sorted(NAdam([w]).state[w])
    ['exp_avg', 'exp_avg_sq', 'global_step', 'mu_product', 'step']
""",
    ),
    Facade(
        "RAdam", _optim.RAdam,
        arguments=("lr", "betas", "eps", "weight_decay"),
        defaults={"eps": 1e-6, "weight_decay": 0.0},
        global_step=True,
        description="RAdam with eps=1e-6 (Cerebras signature; global step on).",
        example=_IMPORT.format("RAdam") + """\
    >>> RAdam([w]).defaults["eps"]
    1e-06
""",
    ),
    Facade(
        "RMSprop", _optim.RMSprop,
        arguments=("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
        description="RMSprop (Cerebras signature).",
        example=_IMPORT.format("RMSprop") + """\
    >>> sorted(RMSprop([w], momentum=0.9, centered=True).state[w])
    ['grad_avg', 'momentum_buffer', 'square_avg', 'step']
""",
    ),
    Facade(
        "Rprop", _optim.Rprop,
        arguments=("lr", "etas", "step_sizes"),
        defaults={"lr": 1e-3, "step_sizes": (1e-6, 50.0)},
        description="Rprop with lr=1e-3 (Cerebras signature).",
        example=_IMPORT.format("Rprop") + """\
    >>> Rprop([w]).state[w]["step_size"]
    tensor([0.0010, 0.0010])
""",
    ),
    Facade(
        "SGD", _optim.SGD,
        arguments=("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"),
        defaults={"lr": REQUIRED},
        description="SGD with optional (Nesterov) momentum; lr is required (Cerebras signature).",
        example=_IMPORT.format("SGD") + """\
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> opt.state_names_to_sparsify()
    ['momentum_buffer']
""",
    ),
)
"""One row per Cerebras optimizer that an :mod:`optimkit.optim` class runs (all but Adafactor)."""


def _facade(row: Facade) -> type[Any]:
    return register_facade(row, build_facade(row, __name__))


# The classes by name, spelled out so that imports of them can be checked statically (a misspelt
# name fails here, at import, with a KeyError) and pickles find them in this module.
_BY_NAME = {row.name: _facade(row) for row in FACADES}
ASGD: type[_optim.ASGD] = _BY_NAME["ASGD"]
Adadelta: type[_optim.Adadelta] = _BY_NAME["Adadelta"]
Adagrad: type[_optim.Adagrad] = _BY_NAME["Adagrad"]
Adam: type[_optim.Adam] = _BY_NAME["Adam"]
AdamW: type[_optim.AdamW] = _BY_NAME["AdamW"]
Adamax: type[_optim.Adamax] = _BY_NAME["Adamax"]
Lamb: type[_optim.Lamb] = _BY_NAME["Lamb"]
Lion: type[_optim.Lion] = _BY_NAME["Lion"]
NAdam: type[_optim.NAdam] = _BY_NAME["NAdam"]
RAdam: type[_optim.RAdam] = _BY_NAME["RAdam"]
RMSprop: type[_optim.RMSprop] = _BY_NAME["RMSprop"]
Rprop: type[_optim.Rprop] = _BY_NAME["Rprop"]
SGD: type[_optim.SGD] = _BY_NAME["SGD"]
del _BY_NAME
