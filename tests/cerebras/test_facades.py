"""The Cerebras optimizers are generated from one table (optimkit/cerebras/optim/optimizers.py):
real module-level classes with Cerebras' signatures (for inspect, the config binder and
``optimkit show``), docstrings derived from their optimkit parents, and no metaclass or MRO
surgery to make them concrete."""

from __future__ import annotations

import copy
import inspect
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import optimkit.cerebras.optim as cs
import optimkit.optim as ok
from optimkit._binder import ConfigError, bind
from optimkit.cerebras.optim import configure_optimizer, optimizers
from optimkit.cerebras.optim._facades import Facade, Option, build_facade
from optimkit.cli import describe
from optimkit.reference import docstring_parts
from optimkit.registry import get_optimizer, spec_for
from tests.cerebras.test_optimizers import DOCUMENTED, GLOBAL_STEP, REQUIRED

ROOT = Path(__file__).resolve().parents[2]
ROWS = {row.name: row for row in optimizers.FACADES}


def _signature_text(name: str) -> str:
    """``Name(params, lr=0.001, ...)`` written from the documented arguments, not from the class."""
    arguments = ["params"] + [key if default is REQUIRED else f"{key}={default!r}" for key, default in DOCUMENTED[name]]
    return f"{name}({', '.join(arguments)})"


def test_the_table_has_every_documented_optimizer_that_optimkit_runs() -> None:
    # Adafactor is Hugging Face's algorithm, which no optimkit.optim class runs: written by hand.
    assert set(ROWS) == set(DOCUMENTED) - {"Adafactor"}
    assert {name for name, row in ROWS.items() if row.global_step} == GLOBAL_STEP - {"Adafactor"}


# ------------------------------------------------------------------------- real signatures
@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_inspect_signature_of_the_class_is_cerebras(name: str) -> None:
    cls = getattr(cs, name)
    parameters = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.default) for p in parameters] == [("params", REQUIRED), *DOCUMENTED[name]]
    # Spelled as Cerebras spells them (0.0, not 0, where Cerebras writes 0.0).
    assert [repr(p.default) for p in parameters[1:]] == [repr(default) for _, default in DOCUMENTED[name]]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    assert all(p.annotation is not inspect.Parameter.empty for p in parameters)


def test_adamw_signature_lists_correct_bias() -> None:
    parameters = inspect.signature(cs.AdamW).parameters
    assert parameters["correct_bias"].default is True and parameters["correct_bias"].annotation is bool
    assert list(parameters)[-2:] == ["correct_bias", "amsgrad"]
    assert not {"foreach", "fused", "differentiable", "capturable", "maximize"} & set(parameters)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_optimkit_show_prints_the_signature_and_defaults(name: str) -> None:
    text = describe(f"cerebras:{name.lower()}")
    # (show wraps a long signature to the terminal's width: compare with the breaks undone)
    assert " ".join(_signature_text(name).split()) in " ".join(text.split())
    for key, default in DOCUMENTED[name]:
        if default is not REQUIRED:
            assert re.search(rf"^  {key} +=  ?{re.escape(repr(default))}$", text, re.M), key


def test_python_m_optimkit_show_cerebras_adamw() -> None:
    result = subprocess.run([sys.executable, "-m", "optimkit", "show", "cerebras:adamw"], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cerebras:adamw: optimizer optimkit.cerebras.optim.AdamW"
    assert ("AdamW(params, lr=0.001, betas=(0.9, 0.999), eps=1e-06, weight_decay=0.0, correct_bias=True, "
            "amsgrad=False)") in " ".join(result.stdout.split())
    assert "  correct_bias = True" in lines and "  eps          = 1e-06" in lines
    assert "*args" not in result.stdout


# ------------------------------------------------------------------------ the config binder
def test_the_binder_reads_the_generated_signature() -> None:
    given = {"lr": "1e-3", "betas": [0.9, "0.99"], "eps": "1e-8", "correct_bias": "false"}
    assert bind(cs.AdamW, given, skip=("params",)) == {"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-8,
                                                       "correct_bias": False}
    with pytest.raises(ConfigError, match=r"unknown key 'foreach'; valid keys: lr, betas, eps, weight_decay, "
                                          r"correct_bias, amsgrad"):
        configure_optimizer("adamw", [torch.nn.Parameter(torch.ones(2))], foreach=True)
    opt = configure_optimizer("AdamW", [torch.nn.Parameter(torch.ones(2))], learning_rate="2e-3", correct_bias="no")
    assert opt.defaults["lr"] == 2e-3 and opt.param_groups[0]["correct_bias"] is False


def test_a_wrong_call_fails_as_against_a_written_signature() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(TypeError, match=r"^SGD.__init__\(\) missing a required argument: 'lr'$"):
        cs.SGD([w])
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'foreach'"):
        cs.Adam([w], foreach=True)
    with pytest.raises(TypeError, match="too many positional arguments"):
        cs.Lion([w], 1e-4, (0.9, 0.99), 0.0, True)
    positional = cs.AdamW([w], 0.01, (0.8, 0.9), 1e-5, 0.1, False, True)  # Cerebras' order
    assert [positional.defaults[k] for k in ("lr", "betas", "eps", "weight_decay", "correct_bias", "amsgrad")] == [
        0.01, (0.8, 0.9), 1e-5, 0.1, False, True]


# --------------------------------------------------------------- real, concrete classes
@pytest.mark.parametrize("name", sorted(ROWS))
def test_generated_classes_are_concrete_without_metaclass_or_surgery(name: str) -> None:
    cls, parent = getattr(cs, name), ROWS[name].parent
    assert type(cls).__call__ is type.__call__  # no metaclass runs the constructor
    assert not getattr(cls, "__abstractmethods__", frozenset())
    # optimkit's generic methods, not the abstract stubs (torch may wrap `step` with its hooks).
    assert cls.preinitialize is parent.preinitialize is ok.Optimizer.preinitialize
    assert not getattr(cls.step, "__isabstractmethod__", False)
    # Counted as a Cerebras optimizer by registration, not by inheriting the abstract stubs.
    assert issubclass(cls, cs.Optimizer) and cs.Optimizer not in cls.__mro__
    assert spec_for(cls) is get_optimizer(name.lower(), namespace="cerebras")


def test_adafactor_is_concrete_the_same_way() -> None:
    assert type(cs.Adafactor).__call__ is type.__call__
    assert issubclass(cs.Adafactor, cs.Optimizer) and cs.Optimizer not in cs.Adafactor.__mro__
    assert "*args" not in str(inspect.signature(cs.Adafactor))


@pytest.mark.parametrize("name", sorted(ROWS))
def test_classes_live_in_their_module_and_pickle(name: str) -> None:
    cls = getattr(cs, name)
    assert cls.__module__ == "optimkit.cerebras.optim.optimizers" and cls.__qualname__ == name
    assert getattr(optimizers, name) is cls
    assert cls.__init__.__qualname__ == f"{name}.__init__"
    required = {key: 0.1 for key, default in DOCUMENTED[name] if default is REQUIRED}
    w = torch.nn.Parameter(torch.ones(3))
    opt = cls([w], **required)
    w.grad = torch.full((3,), 0.5)
    opt.step()
    for twin in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert type(twin) is cls and twin.enable_global_step == opt.enable_global_step
        assert twin.param_groups[0].keys() == opt.param_groups[0].keys()
        (p,) = twin.param_groups[0]["params"]
        assert twin.state[p].keys() == opt.state[w].keys()
        for key, value in opt.state[w].items():
            torch.testing.assert_close(torch.as_tensor(twin.state[p][key]), torch.as_tensor(value), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_registry_entries_follow_the_rows(name: str) -> None:
    row, spec = ROWS[name], get_optimizer(name.lower(), namespace="cerebras")
    parent = spec_for(row.parent)
    assert spec.cls is getattr(cs, name) and spec.description == row.description and spec.torch_name is None
    assert spec.has_betas == ("betas" in row.arguments) and spec.has_momentum == ("momentum" in row.arguments)
    assert not (spec.supports_foreach or spec.supports_fused or spec.supports_differentiable)
    assert (spec.supports_complex, spec.supports_sparse) == (parent.supports_complex, parent.supports_sparse)


# -------------------------------------------------------------------- derived docstrings
def _args_entries(doc: str) -> dict[str, str]:
    lines = inspect.cleandoc(doc).splitlines()
    start = lines.index("Args:")
    entries = {}
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        name, _, text = line.strip().partition(" ")
        entries[name] = text
    return entries


@pytest.mark.parametrize("name", sorted(ROWS))
def test_docstrings_are_derived_from_the_parent(name: str) -> None:
    row, cls = ROWS[name], getattr(cs, name)
    doc, parent_doc = cls.__doc__ or "", row.parent.__doc__ or ""
    parts, parent_parts = docstring_parts(doc), docstring_parts(parent_doc)
    # The parent's mathematics, verbatim, then the row's own notes.
    assert parent_parts.math and parts.math[:len(parent_parts.math)] == parent_parts.math
    assert f"``cerebras.pytorch.optim.{name}``" in parts.summary
    assert f":class:`optimkit.optim.{row.parent.__name__}`" in parts.summary
    # Args: exactly Cerebras' arguments, with Cerebras' defaults, described as the parent does.
    entries, parent_entries = _args_entries(doc), _args_entries(parent_doc)
    assert list(entries) == ["params"] + [key for key, _ in DOCUMENTED[name]]
    for key, default in DOCUMENTED[name]:
        if default is REQUIRED:
            assert "default" not in entries[key] and "optional" not in entries[key]
        else:
            assert entries[key].endswith(f"(default: {default!r}).")
        if key in parent_entries and key not in row.docs:
            described = re.sub(r" \(default: .*\)\.$", "", parent_entries[key]).replace(", optional", "")
            assert described in entries[key].replace(", optional", ""), key
    # What differs from the parent is said in so many words.
    for key, default in row.defaults.items():
        parent_default = inspect.signature(row.parent).parameters[key].default
        if default is not REQUIRED and default != parent_default:
            assert f"``{key}={default!r}`` (optimkit: ``{parent_default!r}``)" in doc
    assert ("``global_step``" in doc) is row.global_step
    assert parts.example.startswith(">>> import torch") and f"from optimkit.cerebras.optim import {name}" in parts.example


def test_a_row_that_names_no_argument_is_rejected() -> None:
    with pytest.raises(ValueError, match="momentun"):
        build_facade(Facade("Bad", ok.SGD, arguments=("lr", "momentun"), description="", example=""), module=__name__)
    with pytest.raises(ValueError, match="dampening"):
        build_facade(Facade("Bad", ok.SGD, arguments=("lr",), defaults={"dampening": 0.5}, description="",
                            example=""), module=__name__)


def test_a_renamed_argument_reaches_the_parent_under_its_own_name() -> None:
    """No Cerebras optimizer renames an optimkit argument today; the table can say so when one does."""
    row = Facade("Renamed", ok.SGD, arguments=("learning_rate", "momentum"), renamed={"learning_rate": "lr"},
                 defaults={"learning_rate": 0.5}, description="", example="")
    renamed = build_facade(row, module=__name__)
    assert [(p.name, p.default) for p in inspect.signature(renamed).parameters.values()][1:] == [
        ("learning_rate", 0.5), ("momentum", 0)]
    opt = renamed([torch.nn.Parameter(torch.ones(2))], learning_rate=0.25, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.25 and "learning_rate" not in opt.param_groups[0]
    doc = renamed.__doc__ or ""
    assert "Renamed: ``learning_rate`` (optimkit: ``lr``)" in doc and "``lr``," not in doc.split("Not taken")[1]
    assert _args_entries(doc)["learning_rate"] == "(float, Tensor, optional): learning rate (default: 0.5)."
    with pytest.raises(ValueError, match="rate"):
        build_facade(Facade("Bad", ok.SGD, arguments=("rate",), renamed={"rate": "learning_rate"}, description="",
                            example=""), module=__name__)


def test_an_added_option_is_a_group_option_filled_in_old_checkpoints() -> None:
    """A toy row: Adam whose rule's ``correct_bias`` switch is an argument (what AdamW's row does)."""
    row = Facade("PlainAdam", ok.Adam, arguments=("lr", "correct_bias"), description="", example="",
                 options={"correct_bias": Option(bool, False, "correct the bias")})
    plain = build_facade(row, module=__name__)
    w, v = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = plain([{"params": [w]}, {"params": [v], "correct_bias": True}], lr=0.1)
    assert [group["correct_bias"] for group in opt.param_groups] == [False, True]
    torch_adam = torch.optim.Adam([{"params": [w]}, {"params": [v]}])
    opt.load_state_dict(torch_adam.state_dict())  # no correct_bias: the row's default fills it
    assert [group["correct_bias"] for group in opt.param_groups] == [False, False]
    assert _args_entries(plain.__doc__ or "")["correct_bias"] == "(bool, optional): correct the bias (default: False)."


def test_user_subclass_of_a_facade_keeps_its_signature() -> None:
    class Mine(cs.AdamW):
        pass

    assert inspect.signature(Mine) == inspect.signature(cs.AdamW)
    opt: Any = Mine([torch.nn.Parameter(torch.ones(2))], correct_bias=False)
    assert opt.param_groups[0]["correct_bias"] is False and isinstance(opt, cs.AdamBase)
