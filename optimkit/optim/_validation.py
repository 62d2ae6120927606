"""Declarative argument checks shared by every optimizer.

Each optimizer lists the rules that apply to its constructor arguments; :func:`validate` runs them
in order and raises ``ValueError`` with torch's wording, so code that matches on torch's messages
keeps working (``Invalid learning rate: -1.0``).

Example:
    >>> from optimkit.optim._validation import validate, non_negative
    >>> validate([non_negative("lr", "Invalid learning rate: {}")], {"lr": 0.1})
    >>> validate([non_negative("lr", "Invalid learning rate: {}")], {"lr": -1.0})
    Traceback (most recent call last):
    ...
    ValueError: Invalid learning rate: -1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Rule",
    "validate",
    "non_negative",
    "in_unit_interval",
    "beta_at",
    "tensor_hyperparameter",
    "check_fused_flags",
    "capturable_devices",
    "check_capturable_devices",
    "TENSOR_LR",
    "LR",
    "EPS",
    "WEIGHT_DECAY",
    "BETAS",
]


@dataclass(frozen=True)
class Rule:
    """One check: ``predicate(value)`` must hold, else ``message.format(value)`` is raised.

    ``arg`` names the constructor argument; ``index`` picks one element of a tuple argument
    (``betas[0]``). A rule whose argument is absent from the values is skipped.
    """

    arg: str
    predicate: Callable[[Any], bool]
    message: str
    index: int | None = None
    error: type[Exception] = ValueError

    def check(self, values: Mapping[str, Any]) -> None:
        if self.arg not in values:
            return
        value = values[self.arg]
        if self.index is not None:
            value = value[self.index]
        if not self.predicate(value):
            raise self.error(self.message.format(value))


def non_negative(arg: str, message: str) -> Rule:
    """``0 <= value`` (works for floats and 1-element tensors)."""
    return Rule(arg, lambda value: 0.0 <= value, message)


def in_unit_interval(arg: str, message: str, index: int | None = None) -> Rule:
    """``0 <= value < 1``."""
    return Rule(arg, lambda value: 0.0 <= value < 1.0, message, index=index)


def beta_at(index: int) -> Rule:
    """torch's check on ``betas[index]``: ``0 <= beta < 1``."""
    return in_unit_interval("betas", f"Invalid beta parameter at index {index}: {{}}", index=index)


def validate(rules: Iterable[Rule], values: Mapping[str, Any]) -> None:
    """Run ``rules`` over ``values`` in order; the first failing rule raises."""
    for rule in rules:
        rule.check(values)


def tensor_hyperparameter(name: str, value: Any, *, foreach: bool | None, capturable: bool) -> None:
    """torch's rules for a hyperparameter given as a Tensor (lr, betas[i]).

    A Tensor must hold exactly one element, and the non-capturable ``foreach`` kernels cannot
    take one (torch raises the same ``ValueError``).
    """
    if not isinstance(value, torch.Tensor):
        return
    if foreach and not capturable:
        raise ValueError(f"{name} as a Tensor is not supported for capturable=False and foreach=True")
    if value.numel() != 1:
        raise ValueError(f"Tensor {name} must be 1-element")


def check_fused_flags(*, fused: bool | None, foreach: bool | None, differentiable: bool) -> None:
    """torch's mutual exclusions for ``fused=True`` (``RuntimeError``, as torch raises)."""
    if not fused:
        return
    if differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")



def capturable_devices(*, supports_xla: bool = True) -> list[str]:
    """Device types on which torch lets ``capturable=True`` run, in the order its error lists them.

    Some of torch's implementations leave XLA out (Adadelta, the foreach Adamax), so their
    message does too.
    """
    devices = ["cuda", "xpu", "hpu", torch._C._get_privateuse1_backend_name()]
    if supports_xla:
        devices.append("xla")
    return devices


def check_capturable_devices(params: Iterable[torch.Tensor], steps: Iterable[torch.Tensor], *,
                             supports_xla: bool = True) -> None:
    """torch's check before a capturable step: each parameter and its ``step`` on the same
    supported device type (``AssertionError``, as torch raises). Skipped while compiling."""
    if torch.compiler.is_compiling():
        return
    devices = capturable_devices(supports_xla=supports_xla)
    if not all(p.device.type == s.device.type and p.device.type in devices for p, s in zip(params, steps)):
        raise AssertionError(
            f"If capturable=True, params and state_steps must be on supported devices: {devices}."
        )

# Rules most optimizers share, with torch's messages.
TENSOR_LR = Rule("lr", lambda lr: not isinstance(lr, torch.Tensor) or lr.numel() == 1, "Tensor lr must be 1-element")
LR = non_negative("lr", "Invalid learning rate: {}")
EPS = non_negative("eps", "Invalid epsilon value: {}")
WEIGHT_DECAY = non_negative("weight_decay", "Invalid weight_decay value: {}")
BETAS = (beta_at(0), beta_at(1))
