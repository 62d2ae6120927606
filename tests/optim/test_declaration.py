"""What is read from an optimizer's declaration (see ``optimkit/optim/_declaration.py``) stays
consistent with what the class does: its rule takes every state entry ``_init_state`` creates,
and reads only options the class has."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from optimkit.optim._declaration import SPLIT_OPTIONS, ordered_options, rule_signature
from optimkit.optim.optimizer import GLOBAL_STEP_KEY
from tests._db import DB, DBEntry, cases

_WITH_RULE = cases(executors=False, only=lambda entry: getattr(entry.cls, "_rule", None) is not None)


@pytest.mark.parametrize(("entry", "config"), _WITH_RULE)
def test_rule_takes_every_state_entry_in_creation_order(entry: DBEntry, config: dict[str, Any]) -> None:
    """``_init_state``, probed on the meta device, creates only entries the rule's signature takes,
    in the rule's order."""
    params = [torch.zeros(shape, requires_grad=True) for shape in entry.inputs.shapes]
    opt = entry.cls(params, **config)
    taken = [name for name, _ in rule_signature(entry.cls._rule).lists]
    for group in opt.param_groups:
        for p in group["params"]:
            created = [key for key in opt._init_state(group, torch.empty_like(p, device="meta")) if key != GLOBAL_STEP_KEY]
            assert set(created) <= set(taken), (entry.name, created, taken)
            assert sorted(created, key=taken.index) == created, (entry.name, created, taken)


@pytest.mark.parametrize("entry", [e for e in DB.values() if getattr(e.cls, "_rule", None) is not None], ids=lambda e: e.name)
def test_rule_options_are_options_of_the_class(entry: DBEntry) -> None:
    """Each keyword argument of the rule is an option of the class, or an element of one."""
    options = entry.cls([torch.zeros(shape, requires_grad=True) for shape in entry.inputs.shapes]).defaults
    for name, optional in rule_signature(entry.cls._rule).options:
        source = SPLIT_OPTIONS[name][0] if name not in options and name in SPLIT_OPTIONS else name
        assert source in options or optional, (entry.name, name)


def test_defaults_order_lists_only_options() -> None:
    for entry in DB.values():
        order = entry.cls._torch_defaults_order
        assert set(order) <= set(ordered_options(entry.cls.__init__)), entry.name
