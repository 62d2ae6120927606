from __future__ import annotations

import inspect
from collections import defaultdict

import pytest
import torch

import optimkit.optim as optim
from optimkit.registry import get_optimizer, list_optimizers, optimizer_specs, register_optimizer
from tests._db import DB


def test_registry_matches_optim_all() -> None:
    exported = {
        name for name in optim.__all__
        if inspect.isclass(getattr(optim, name)) and issubclass(getattr(optim, name), optim.Optimizer)
        and getattr(optim, name) is not optim.Optimizer
    }
    registered = {spec.cls.__name__ for spec in optimizer_specs()}
    assert registered == exported


def test_every_registered_optimizer_has_a_database_entry() -> None:
    assert set(DB) == set(list_optimizers())
    for entry in DB.values():
        assert entry.inputs.configs, f"{entry.name} has no configuration"


def test_torch_names_exist_in_torch_optim() -> None:
    for spec in optimizer_specs():
        if spec.torch_name is not None:
            assert spec.torch_name == spec.cls.__name__
            assert issubclass(getattr(torch.optim, spec.torch_name), torch.optim.Optimizer)


def test_list_optimizers_pattern_is_fnmatch_and_case_insensitive() -> None:
    assert list_optimizers("adam*") == ["adam", "adamax", "adamw"]
    assert list_optimizers("ADAMW") == ["adamw"]
    assert list_optimizers("nothing*") == []
    assert "sgd" in list_optimizers()


def test_get_optimizer_suggests_close_names() -> None:
    assert get_optimizer("AdamW").cls is optim.AdamW
    with pytest.raises(KeyError, match=r"did you mean .*adamw"):
        get_optimizer("adamv")
    with pytest.raises(KeyError, match="unknown optimizer 'zzzz'"):
        get_optimizer("zzzz")


def test_duplicate_name_is_rejected() -> None:
    class Other(optim.Optimizer):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_optimizer("sgd", description="clash")(Other)


def test_signatures_match_torch() -> None:
    """Same argument names, kinds and defaults as torch.optim; optimkit's own options (a compiled
    ``fused`` where torch has no kernel) only after them, keyword-only, defaulting to None."""
    for spec in optimizer_specs():
        if spec.torch_name is None:
            continue
        ours = inspect.signature(spec.cls.__init__).parameters
        theirs = inspect.signature(getattr(torch.optim, spec.torch_name).__init__).parameters
        own = list(spec.cls._own_options)
        assert list(ours) == list(theirs) + own, spec.name
        for name in own:
            assert ours[name].kind is inspect.Parameter.KEYWORD_ONLY and ours[name].default is None
        for name, parameter in theirs.items():
            assert ours[name].kind == parameter.kind, (spec.name, name)
            assert ours[name].default == parameter.default, (spec.name, name)


def test_defaults_match_torch() -> None:
    """Same keys, values and order (the order shows in every saved param group)."""
    for spec in optimizer_specs():
        if spec.torch_name is None:
            continue
        # A matrix: every optimizer takes one (Muon takes nothing else).
        w = torch.nn.Parameter(torch.zeros(2, 2))
        ours, theirs = spec.cls([w]).defaults, getattr(torch.optim, spec.torch_name)([w]).defaults
        assert list(ours.items()) == list(theirs.items()), spec.name


@pytest.mark.parametrize("namespace", ["optim", "cerebras"])
def test_registered_capabilities_follow_the_signatures(namespace: str) -> None:
    """The flags are read from the constructor (and two class attributes no signature shows): a
    class that gains `fused` in its signature is registered as fused, and nothing else says so."""
    for spec in optimizer_specs(namespace):
        options = inspect.signature(spec.cls.__init__).parameters
        assert spec.has_betas == ("betas" in options), spec.name
        assert spec.has_momentum == ("momentum" in options), spec.name
        assert spec.supports_foreach == ("foreach" in options), spec.name
        # torch's fused kernels: a compiled `fused` of optimkit's own is not that capability.
        assert spec.supports_fused == ("fused" in options and "fused" not in spec.cls._own_options), spec.name
        assert spec.supports_differentiable == ("differentiable" in options), spec.name
        assert spec.supports_complex == spec.cls._supports_complex, spec.name
        assert spec.supports_sparse == spec.cls._supports_sparse, spec.name


def test_old_checkpoints_get_the_options_torch_fills() -> None:
    """A param group that lacks every option is completed by ``__setstate__`` (which torch's loader
    ends in) with the options and values torch fills, no more and no fewer."""

    def completed(cls: type, defaults: dict[str, object], w: torch.Tensor) -> dict[str, object]:
        scratch = object.__new__(cls)
        scratch.__setstate__({"defaults": dict(defaults), "state": defaultdict(dict), "param_groups": [{"params": [w]}]})
        return {key: value for key, value in scratch.param_groups[0].items() if key != "params"}

    for spec in optimizer_specs():
        if spec.torch_name is None:
            continue
        w = torch.nn.Parameter(torch.zeros(2, 2))
        reference = getattr(torch.optim, spec.torch_name)
        assert completed(spec.cls, spec.cls([w]).defaults, w) == completed(reference, reference([w]).defaults, w), spec.name
