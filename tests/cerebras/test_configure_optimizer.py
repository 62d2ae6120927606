"""configure_optimizer: lookup by name, keyword matching, aliases, legacy keys and strict errors."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch

import optimkit.cerebras.optim as cs
import optimkit.optim as ok
from optimkit.cerebras import configure_optimizer
from optimkit.registry import optimizer_specs


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()


def test_adamw_from_config_steps_like_optimkit_adamw_with_eps_1e_6() -> None:
    ours, theirs = _model(), _model()
    opt = configure_optimizer("adamw", ours.parameters(), learning_rate=1e-3, weight_decay=0.01)
    ref = ok.AdamW(theirs.parameters(), lr=1e-3, eps=1e-6, weight_decay=0.01)
    assert isinstance(opt, cs.AdamW)
    g = torch.Generator().manual_seed(3)
    for _ in range(10):
        x = torch.randn(8, 4, dtype=torch.float64, generator=g)
        for model, optimizer in ((ours, opt), (theirs, ref)):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("spec", optimizer_specs(namespace="cerebras"), ids=lambda s: s.name)
def test_every_registered_name_is_found_case_insensitively(spec: Any) -> None:
    required = {"learning_rate": 0.1} if spec.name in ("sgd", "adafactor") else {}
    for name in (spec.name, spec.name.upper(), spec.cls.__name__):
        opt = configure_optimizer(name, [torch.nn.Parameter(torch.zeros(2, 2))], **required)
        assert type(opt) is spec.cls


def test_keywords_reach_the_constructor() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = configure_optimizer("Rprop", params, lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-5, 2.0))
    assert (opt.defaults["lr"], opt.defaults["etas"], opt.defaults["step_sizes"]) == (0.01, (0.4, 1.3), (1e-5, 2.0))
    opt = configure_optimizer("adamw", params, learning_rate=0.5, correct_bias=False)
    assert opt.defaults["lr"] == 0.5 and opt.param_groups[0]["correct_bias"] is False


def test_nested_optim_params_are_flattened() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = configure_optimizer("SGD", params, learning_rate=0.1, optim_params={"momentum": 0.9, "nesterov": True})
    assert (opt.defaults["lr"], opt.defaults["momentum"], opt.defaults["nesterov"]) == (0.1, 0.9, True)
    with pytest.raises(ValueError, match="momentum given both inside and outside optim_params"):
        configure_optimizer("sgd", params, learning_rate=0.1, momentum=0.5, optim_params={"momentum": 0.9})


LEGACY = [
    ("adamw", "weight_decay_rate", "weight_decay"),
    ("lamb", "weight_decay_rate", "weight_decay"),
    ("adamw", "beta1", "betas"),
    ("adam", "beta2", "betas"),
    ("adafactor", "eps1", "eps"),
    ("adafactor", "eps2", "eps"),
    ("rprop", "eta1", "etas"),
    ("rprop", "eta2", "etas"),
    ("rprop", "step_size_min", "step_sizes"),
    ("rprop", "step_size_max", "step_sizes"),
]


@pytest.mark.parametrize(("optimizer", "key", "new"), LEGACY, ids=[f"{o}-{k}" for o, k, _ in LEGACY])
def test_legacy_keys_name_their_replacement(optimizer: str, key: str, new: str) -> None:
    with pytest.raises(ValueError) as error:
        configure_optimizer(optimizer, [torch.nn.Parameter(torch.zeros(2))], learning_rate=0.1, **{key: 0.5})
    message = str(error.value)
    assert f"legacy key {key!r}" in message
    assert f"use {new}=" in message


def test_a_key_the_class_takes_is_never_legacy() -> None:
    # Adafactor's own `beta1` argument, not the legacy half of `betas`.
    opt = configure_optimizer("adafactor", [torch.nn.Parameter(torch.zeros(2))], learning_rate=0.1, beta1=0.9)
    assert opt.defaults["beta1"] == 0.9


@pytest.mark.parametrize("name", ["sgd", "adamw", "adafactor", "rprop"])
def test_unknown_key_lists_the_valid_keys(name: str) -> None:
    cls = type(configure_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], learning_rate=0.1))
    with pytest.raises(ValueError) as error:
        configure_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], learning_rate=0.1, nonsense=1)
    message = str(error.value)
    assert "'nonsense'" in message
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    assert message.endswith("valid keys: " + ", ".join(valid + ["learning_rate"]))


def test_legacy_key_of_another_optimizer_is_just_unknown() -> None:
    # SGD has no `betas`: pointing the user to it would be wrong.
    with pytest.raises(ValueError, match="unknown key 'beta1'; valid keys: lr, momentum"):
        configure_optimizer("sgd", [torch.nn.Parameter(torch.zeros(2))], learning_rate=0.1, beta1=0.9)


def test_lr_given_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="'lr' given twice"):
        configure_optimizer("adam", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, learning_rate=0.2)


def test_unknown_optimizer_suggests_close_names() -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer_type 'adamm'; did you mean adam"):
        configure_optimizer("adamm", [torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match=r"unknown optimizer_type 'zzz' \(valid: adadelta, adafactor"):
        configure_optimizer("zzz", [torch.nn.Parameter(torch.zeros(2))])


def test_numbers_written_as_strings_are_converted() -> None:
    # yaml.safe_load reads `1e-3` (no decimal point) as a string.
    opt = configure_optimizer("adamw", [torch.nn.Parameter(torch.zeros(2))], learning_rate="1e-3", eps="1e-8")
    assert opt.defaults["lr"] == 1e-3 and opt.defaults["eps"] == 1e-8
    with pytest.raises(ValueError, match="lr='fast' is not a number"):
        configure_optimizer("adamw", [torch.nn.Parameter(torch.zeros(2))], learning_rate="fast")


def test_schedule_valued_learning_rate_leaves_a_placeholder() -> None:
    schedule = [{"scheduler": "Linear", "initial_learning_rate": 0.0, "end_learning_rate": 1e-4, "total_iters": 10}]
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert configure_optimizer("adamw", params, learning_rate=schedule).defaults["lr"] == 1e-3
    assert configure_optimizer("sgd", params, learning_rate={"scheduler": "Constant", "learning_rate": 0.1},
                               weight_decay=[{"scheduler": "Constant", "val": 0.1}]).defaults["lr"] == 0.0
