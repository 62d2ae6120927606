"""The test database: for every registered optimizer, its input configurations, error inputs,
oracle and capabilities, from which the generic tests are generated.

One database, keyed by ``(namespace, name)`` as the registry is (``optimkit.registry``): the
optimizers of namespace ``ns`` come from ``optimizer_specs(ns)``, and registry name ``n`` has its
inputs in ``tests/<ns>_db/n.py`` as ``ENTRY = ...``:

* ``"optim"``, torch's API: ``tests/optim_db/n.py`` holds an :class:`OptimizerInputs`; the generic
  tests are ``tests/optim/test_generic.py``, the oracle ``torch.optim.<torch_name>`` or a reference;
* ``"cerebras"``, Cerebras' API: ``tests/cerebras_db/n.py`` holds a :class:`CerebrasInputs`, which
  adds Cerebras' documented signature and defaults, the global step, and oracles built with every
  documented default spelled out; the generic tests are ``tests/cerebras/test_generic.py``.

:data:`DATABASE` is the whole of it; :data:`DB` is the ``"optim"`` part by name, and
:func:`cases` and :func:`entries` take a ``namespace`` (``"optim"`` unless told). A
configuration leaves out ``foreach``/``fused``/``differentiable``: the harness crosses those
itself, as far as the registry's capability flags say the class takes them (the Cerebras
classes take none).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from optimkit.registry import NAMESPACES, OptimizerSpec, optimizer_specs

__all__ = [
    "CerebrasInputs", "DATABASE", "DB", "DBEntry", "EXECUTORS", "ErrorInput", "COMPILED_RULE", "FUSED_CPU_KERNEL", "SCALAR_STATE_BEFORE_STORING", "Oracle",
    "OptimizerInputs", "REQUIRED", "TorchOracle", "applies", "cases", "entries", "not_taken", "spelled_out",
]

#: The ``rounding`` note of the optimizers whose default CPU step is torch's fused kernel.
FUSED_CPU_KERNEL = (
    "torch's fused CPU kernel (dense float32/float64 CPU tensors): the update in one pass per tensor, "
    "with its own order of operations, so its last bits differ from the for-loop's"
)

#: The ``rounding`` note of the optimizers whose ``fused=True`` is optimkit's compiled rule.
COMPILED_RULE = (
    "the rule compiled by torch.compile (inductor fuses the operations into one loop and may contract "
    "a multiply and an add into one rounding); its oracle is torch's for-loop, torch having no fused kernel"
)

#: The tolerance of a compiled rule whose per-parameter scalar state is float32: the compiled step
#: computes with it in float64 before storing it, the for-loop with the stored value (as torch's
#: implementations that round step sizes in float32 differ, tests/_harness.FLOAT32_STEP_SIZES).
SCALAR_STATE_BEFORE_STORING = {"rtol": 1e-7, "atol": 1e-9}

#: The default of an argument without one (Cerebras' ``SGD(lr)``, ``Adafactor(lr)``).
REQUIRED: Any = inspect.Parameter.empty


@dataclass(frozen=True)
class ErrorInput:
    """Constructor arguments (besides params) that must raise ``error`` matching ``match``."""

    kwargs: dict[str, Any]
    error: type[Exception]
    match: str
    # When the error only appears at step() (torch checks some things lazily).
    at_step: bool = False


@dataclass(frozen=True)
class OptimizerInputs:
    """What the database knows about one optimizer besides its registry spec."""

    configs: list[dict[str, Any]]
    error_inputs: list[ErrorInput] = field(default_factory=list)
    # Options for the second parameter group (merged over each config), so groups differ;
    # None for optimizers that take a single group only (LBFGS).
    second_group: dict[str, Any] | None = field(default_factory=lambda: {"lr": 0.05})
    # The oracle: defaults to torch.optim.<spec.torch_name>.
    reference: Callable[..., torch.optim.Optimizer] | None = None
    # The options that make the update run "maximize": most optimizers take maximize=True.
    supports_maximize: bool = True
    # Parameter shapes (the harness adds a complex one when the spec supports complex).
    shapes: tuple[tuple[int, ...], ...] = ((5, 3), (4,), (2, 3, 2))
    # step() must be given a closure that recomputes the loss and gradients (LBFGS). The harness
    # then makes gradients by backpropagating a step-dependent quadratic loss.
    needs_closure: bool = False
    # Gradients are sparse COO tensors (SparseAdam); the harness makes sparse ones.
    sparse_grads: bool = False
    # The tolerance of test_foreach_equals_loop where torch's own foreach and for-loop
    # implementations differ by more than rounding (ASGD: eta in float32 vs float64 arithmetic);
    # None: the usual TOLERANCES.
    foreach_loop_tolerance: dict[str, float] | None = None
    # torch creates every parameter's state in the constructor (Adagrad), so a parameter that never
    # gets a gradient still has its initial state; it must stay exactly that.
    eager_state: bool = False
    # test_differentiable_gradcheck fills every state with random values in [0.5, 1.5); this maps
    # them (by state name) into the region where the update is defined, e.g. centered RMSprop
    # needs square_avg >= grad_avg**2. None: use them as they are.
    gradcheck_states: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    # Executors whose kernels round differently from the oracle's for-loop (by executor name, with
    # the reason). Their trajectories are still compared within TOLERANCES; naming them here is
    # what lets the class run them (tests/optim/test_executors.py ties this to the classes).
    rounding: Mapping[str, str] = field(default_factory=dict)
    # Where such an executor's rounding shows beyond TOLERANCES: the tolerance of its float64 oracle
    # comparison, by executor name (a compiled NAdam uses its float32 mu_product before storing it).
    rounding_tolerance: Mapping[str, dict[str, float]] = field(default_factory=dict)

    def oracle_for(self, config: dict[str, Any]) -> Callable[..., torch.optim.Optimizer] | None:
        """The oracle of ``config``: :attr:`reference` (``None``: ``torch.optim.<torch_name>``)."""
        return self.reference


# ----------------------------------------------------------------------- Cerebras entries
Documented = tuple[tuple[str, Any], ...]


def spelled_out(documented: Documented, options: Mapping[str, Any]) -> dict[str, Any]:
    """Every documented argument with its documented default (those without one left out),
    overridden by ``options``."""
    return {**{key: default for key, default in documented if default is not REQUIRED}, **options}


class Oracle(Protocol):
    """What a :class:`CerebrasInputs` entry names as an oracle (:class:`TorchOracle`, or the
    per-element ``ElementOracle`` of ``tests/cerebras/_references.py``)."""

    #: Options the oracle only runs with these values (torch's AdamW always corrects the bias).
    fixed: Mapping[str, Any]

    def factory(self, documented: Documented) -> Callable[..., torch.optim.Optimizer]:
        """``(params, **options) -> optimizer`` running the options a Cerebras class is built with,
        every argument that they leave out at its ``documented`` default."""
        ...


def applies(oracle: Oracle, documented: Documented, config: Mapping[str, Any]) -> bool:
    """Whether ``oracle`` runs ``config`` (its :attr:`~Oracle.fixed` options agree with it)."""
    options = spelled_out(documented, config)
    return all(key in options and options[key] == value for key, value in oracle.fixed.items())


@dataclass(frozen=True)
class TorchOracle:
    """``torch.optim``'s class of the same algorithm, built with *every* documented Cerebras
    default spelled out (overridden by the options given): compared with the Cerebras class built
    with only those options, it checks the update and Cerebras' defaults at once."""

    cls: type[torch.optim.Optimizer]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def factory(self, documented: Documented) -> Callable[..., torch.optim.Optimizer]:
        return _DocumentedTorch(self, documented)


class _DocumentedTorch:
    """``torch.optim.<cls>`` with the documented defaults: ``(params, **options)``, the executor
    flags the harness adds passed on."""

    def __init__(self, oracle: TorchOracle, documented: Documented) -> None:
        self.oracle, self.documented = oracle, documented
        self.__name__ = f"torch.optim.{oracle.cls.__name__}"

    def __call__(self, params: Any, **options: Any) -> torch.optim.Optimizer:
        kwargs = spelled_out(self.documented, options)
        for key, value in self.oracle.fixed.items():
            assert kwargs.pop(key) == value, f"{self.__name__} only runs {key}={value!r}"
        return self.oracle.cls(params, **kwargs)

    def __repr__(self) -> str:
        return f"{self.__name__} with the documented defaults"


@dataclass(frozen=True)
class CerebrasInputs(OptimizerInputs):
    """A Cerebras class: the generic inputs, plus what Cerebras documents and what checks it.

    ``reference`` need not be given: it is set to the :class:`TorchOracle`'s class with the
    documented defaults (what ``DBEntry.reference_cls`` and the state_dict cross-load test use).
    """

    # Cerebras' arguments after ``params`` as documented (training-docs.cerebras.ai,
    # cerebras.pytorch.optim, the 2.x releases): names in order, defaults spelled as Cerebras
    # spells them (0 or 0.0), REQUIRED for none. Written from Cerebras' reference, not from optimkit.
    documented: Documented = ()
    # The oracles: for each configuration exactly one applies (see applies()); none shares code
    # with optimkit.
    oracles: tuple[Oracle, ...] = ()
    # Cerebras constructs the class with enable_global_step=True: every parameter keeps a float32
    # global_step, advanced by every step that gives it a gradient.
    global_step: bool = False
    # The rule also has a foreach path, which a parameter group selects with foreach=True though
    # the constructor takes no foreach (Adafactor): the oracle comparison runs both paths.
    group_foreach: bool = False

    def __post_init__(self) -> None:
        torch_oracles = [oracle for oracle in self.oracles if isinstance(oracle, TorchOracle)]
        assert len(torch_oracles) <= 1
        if torch_oracles and self.reference is None:
            object.__setattr__(self, "reference", torch_oracles[0].factory(self.documented))

    def documented_defaults(self) -> dict[str, Any]:
        """The documented defaults by name (arguments without one left out)."""
        return spelled_out(self.documented, {})

    def oracles_for(self, config: dict[str, Any]) -> list[Oracle]:
        return [oracle for oracle in self.oracles if applies(oracle, self.documented, config)]

    def oracle_for(self, config: dict[str, Any]) -> Callable[..., torch.optim.Optimizer] | None:
        (oracle,) = self.oracles_for(config)
        return oracle.factory(self.documented)


def not_taken(class_name: str, *names: str, **required: Any) -> list[ErrorInput]:
    """Error inputs: arguments of torch's signature that Cerebras' ``class_name`` does not take
    (a facade takes no ``foreach``, ``fused``, ``differentiable``, and Adam no ``maximize``), each
    given with the ``required`` arguments."""
    return [ErrorInput({**required, name: True}, TypeError,
                       rf"{class_name}\.__init__\(\) got an unexpected keyword argument '{name}'") for name in names]


# ------------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class DBEntry:
    spec: OptimizerSpec
    inputs: OptimizerInputs

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def namespace(self) -> str:
        return self.spec.namespace

    @property
    def key(self) -> tuple[str, str]:
        """The key in :data:`DATABASE`: ``(namespace, name)``."""
        return (self.spec.namespace, self.spec.name)

    @property
    def cls(self) -> type:
        return self.spec.cls

    def reference_cls(self) -> Callable[..., torch.optim.Optimizer]:
        if self.inputs.reference is not None:
            return self.inputs.reference
        assert self.spec.torch_name is not None, f"{self.name}: no torch counterpart and no reference"
        return getattr(torch.optim, self.spec.torch_name)

    def oracle(self, config: dict[str, Any]) -> Callable[..., torch.optim.Optimizer]:
        """What ``self.cls(params, **config)`` is compared with: the entry's oracle for ``config``,
        else :meth:`reference_cls`."""
        return self.inputs.oracle_for(config) or self.reference_cls()

    def executors(self) -> list[str]:
        """The executors this optimizer offers on the CPU: default (no flags: what a user gets),
        loop, foreach, fused. A Cerebras class takes no flags: its one executor is the loop."""
        if self.namespace != "optim":
            return ["loop"]
        names = ["default", "loop"]
        if self.spec.supports_foreach:
            names.append("foreach")
        if self.spec.supports_fused or "fused" in getattr(self.cls, "_own_options", ()):
            names.append("fused")  # torch's kernel, or optimkit's compiled rule (see `rounding`)
        return names


def _load() -> dict[tuple[str, str], DBEntry]:
    database: dict[tuple[str, str], DBEntry] = {}
    for namespace in NAMESPACES:
        for spec in optimizer_specs(namespace):
            module = importlib.import_module(f"tests.{namespace}_db.{spec.name}")
            entry = DBEntry(spec=spec, inputs=module.ENTRY)
            assert isinstance(entry.inputs, CerebrasInputs) == (namespace == "cerebras"), entry.key
            database[entry.key] = entry
    return database


#: Every registered optimizer of every namespace, by ``(namespace, name)``.
DATABASE: dict[tuple[str, str], DBEntry] = _load()


def entries(namespace: str = "optim") -> dict[str, DBEntry]:
    """The entries of ``namespace``, by registry name."""
    return {name: entry for (space, name), entry in DATABASE.items() if space == namespace}


#: The ``"optim"`` entries (torch's API) by name, as tests/optim and tests/test_registry.py read them.
DB: dict[str, DBEntry] = entries("optim")

EXECUTORS: dict[str, dict[str, Any]] = {
    "default": {},
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def _compiles(entry: DBEntry) -> bool:
    """Whether the entry's ``fused=True`` is optimkit's compiled rule (not a torch kernel)."""
    return "fused" in getattr(entry.cls, "_own_options", ())


def config_id(config: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "defaults"


def cases(*, executors: bool = True, only: Callable[[DBEntry], bool] | None = None,
          namespace: str = "optim") -> list[Any]:
    """pytest parameters: (entry, config[, executor]) for every entry of ``namespace`` and
    configuration, with the executors its capability flags allow."""
    import pytest

    params = []
    for entry in entries(namespace).values():
        if only is not None and not only(entry):
            continue
        for config in entry.inputs.configs:
            if executors:
                for executor in entry.executors():
                    if executor == "fused" and _compiles(entry) and config is not entry.inputs.configs[0]:
                        continue  # a compilation per configuration costs seconds: the first one
                    params.append(pytest.param(entry, config, executor, id=f"{entry.name}-{config_id(config)}-{executor}"))
            else:
                params.append(pytest.param(entry, config, id=f"{entry.name}-{config_id(config)}"))
    return params
