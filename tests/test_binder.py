"""optimkit._binder: one binder from config mappings to constructor arguments, and ConfigError."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Optional

import pytest
import torch
import yaml

import optimkit.cerebras.optim.lr_scheduler as C
import optimkit.optim as O
from optimkit import config
from optimkit._binder import ArgumentError, ConfigError, UnknownName, Wording, bind, coerce, render_path
from optimkit.registry import UnknownNameError
from optimkit.schedule_plot import build_named


def target(
    lr: float,
    steps: int = 10,
    betas: tuple[float, float] = (0.9, 0.999),
    decay: float | torch.Tensor = 0.0,
    limit: Optional[int] = None,  # noqa: UP007 - the typing spelling on purpose
    mode: Literal["cos", "linear"] = "cos",
    flag: bool = False,
    points: list[float] | None = None,
    milestones: Iterable[int] = (),
) -> dict[str, object]:
    """A callable whose annotations are strings (this module has ``from __future__ import annotations``)."""
    return dict(locals())


def error_of(given: dict[str, object], **options: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        bind(target, given, **options)  # type: ignore[arg-type]
    return info.value


# ------------------------------------------------------------------------------------------
# Keys
# ------------------------------------------------------------------------------------------


def test_unknown_key_suggests_the_closest_and_lists_the_valid_ones() -> None:
    error = error_of({"lr": 0.1, "betaz": [0.9, 0.99]}, path=("optimizer",))
    assert str(error) == (
        "optimizer: target got an unknown key 'betaz'; valid keys: lr, steps, betas, decay, limit, mode, flag, "
        "points, milestones (did you mean 'betas'?)"
    )
    assert error.path == ("optimizer", "betaz")
    assert error.choices == ["lr", "steps", "betas", "decay", "limit", "mode", "flag", "points", "milestones"]
    assert error.close[0] == "betas"


def test_unknown_key_without_a_close_one_has_no_hint_and_case_does_not_hide_one() -> None:
    assert "did you mean" not in str(error_of({"lr": 0.1, "nonsense": 1}))
    assert "(did you mean 'steps'?)" in str(error_of({"lr": 0.1, "STEPZ": 1}))


def test_missing_required_key() -> None:
    error = error_of({"steps": 3}, path=("scheduler", 2))
    assert str(error) == "scheduler[2]: target is missing required key(s): lr"
    assert error.path == ("scheduler", 2)


def test_skip_consumed_aliases_legacy_and_wording() -> None:
    assert bind(target, {"learning_rate": 0.5}, aliases={"learning_rate": "lr"}) == {"lr": 0.5}
    with pytest.raises(ConfigError, match="'lr' given twice"):
        bind(target, {"lr": 0.1, "learning_rate": 0.5}, aliases={"learning_rate": "lr"})
    legacy = {"beta1": ("betas", "use betas=(beta1, beta2)"), "eta1": ("etas", "use etas=(eta1, eta2)")}
    with pytest.raises(ConfigError, match=r"^target: legacy key 'beta1': use betas=\(beta1, beta2\)$"):
        bind(target, {"lr": 0.1, "beta1": 0.9}, legacy=legacy)
    # A legacy key whose replacement the target does not take is just unknown.
    with pytest.raises(ConfigError, match="unknown key 'eta1'"):
        bind(target, {"lr": 0.1, "eta1": 0.9}, legacy=legacy)
    # Skipped arguments are no config keys; consumed keys are listed first.
    wording = Wording(unknown="{key!r} not in: {valid}")
    with pytest.raises(ConfigError, match=r"^'lr' not in: name, steps, betas"):
        bind(target, {"lr": 0.1}, skip=("lr",), consumed=("name",), wording=wording)


def test_a_class_is_bound_by_its_constructor_without_self() -> None:
    # A generated Cerebras facade: bound through its constructor's signature, `self` left out.
    from optimkit.cerebras.optim import SGD

    assert bind(SGD, {"lr": "1e-2", "nesterov": "true"}, skip=("params",)) == {"lr": 0.01, "nesterov": True}


# ------------------------------------------------------------------------------------------
# Coercion, one annotation at a time
# ------------------------------------------------------------------------------------------


def test_yaml_1_1_reads_exponents_without_a_dot_as_strings() -> None:
    given = yaml.safe_load("lr: 1e-3\nsteps: 1e3\nbetas: [0.9, 1e-2]\npoints: [1e-4, 0.5]\n")
    assert given["lr"] == "1e-3" and given["steps"] == "1e3"  # the quirk itself
    assert bind(target, given) == {"lr": 1e-3, "steps": 1000, "betas": (0.9, 0.01), "points": [1e-4, 0.5]}


def test_numbers_that_are_not() -> None:
    error = error_of({"lr": "fast"}, path=("optimizer",))
    assert str(error) == "optimizer: target: lr='fast' is not a number" and error.path == ("optimizer", "lr")
    assert "steps='2.5' is not an integer" in str(error_of({"lr": 1, "steps": "2.5"}))
    element = error_of({"lr": 1, "betas": [0.9, "high"]})
    assert "betas[1]='high' is not a number" in str(element) and element.path == ("betas", 1)


def test_list_becomes_tuple_for_a_tuple_argument() -> None:
    out = bind(target, {"lr": 1, "betas": [0.8, 0.9]})
    assert out["betas"] == (0.8, 0.9) and isinstance(out["betas"], tuple)
    assert bind(target, {"lr": 1, "betas": [0.8, 0.9, 0.99]})["betas"] == (0.8, 0.9, 0.99)  # length: constructor's job


def test_optional() -> None:
    assert bind(target, {"lr": 1, "limit": None})["limit"] is None
    assert bind(target, {"lr": 1, "limit": "1e2"})["limit"] == 100
    assert bind(target, {"lr": 1, "points": None})["points"] is None


def test_literal() -> None:
    assert bind(target, {"lr": 1, "mode": "linear"})["mode"] == "linear"
    error = error_of({"lr": 1, "mode": "Cos"})
    assert str(error) == "target: mode='Cos' is not one of 'cos', 'linear' (did you mean 'cos'?)"
    assert error.choices == ["cos", "linear"] and error.path == ("mode",)


def test_float_or_tensor_union() -> None:
    tensor = torch.tensor(0.1)
    assert bind(target, {"lr": 1, "decay": tensor})["decay"] is tensor
    assert bind(target, {"lr": 1, "decay": "1e-2"})["decay"] == 0.01
    assert "decay='x' is not a number" in str(error_of({"lr": 1, "decay": "x"}))


def test_bool() -> None:
    assert bind(target, {"lr": 1, "flag": True})["flag"] is True
    assert [bind(target, {"lr": 1, "flag": s})["flag"] for s in ("true", "No", "on", "0")] == [True, False, True, False]
    assert "flag='maybe' is not a boolean" in str(error_of({"lr": 1, "flag": "maybe"}))


def test_coercion_is_lossless_everything_else_reaches_the_constructor_as_written() -> None:
    # pydantic's lax mode would change each of these; the constructors' own checks decide instead.
    milestones = [3, 6]
    out = bind(target, {"lr": True, "steps": 2.0, "decay": 1, "milestones": milestones, "points": (1, 2)})
    assert out["lr"] is True and out["steps"] == 2.0 and isinstance(out["steps"], float)
    assert out["decay"] == 1 and type(out["decay"]) is int
    assert out["milestones"] is milestones and out["points"] == (1, 2)
    assert bind(target, {"lr": 1, "flag": 1})["flag"] == 1
    assert bind(target, {"lr": {"a": 1}})["lr"] == {"a": 1}  # not a string: the constructor says what is wrong


def test_string_annotations_of_a_hand_made_signature_are_resolved() -> None:
    # The *WD twins carry __signature__ with the string annotations of their LR classes.
    out = bind(C.LinearWD, {"initial_val": "1e-1", "end_val": 0, "total_iters": "1e1"}, skip=("optimizer",))
    assert out == {"initial_val": 0.1, "end_val": 0, "total_iters": 10}


def test_unresolvable_annotation_falls_back_to_the_default() -> None:
    def f(a: NoSuchType = 1.0, b: NoSuchType = None) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    assert bind(f, {"a": "1e-3", "b": "1e-3"}) == {"a": 1e-3, "b": "1e-3"}


def test_coerce_alone() -> None:
    assert coerce("1e3", int) == 1000 and coerce(["1", 2], tuple[float, ...]) == (1.0, 2)
    with pytest.raises(ConfigError, match=r"^a\.b\[0\]='x' is not an integer$"):
        coerce(["x"], list[int], path=("a", "b"))


# ------------------------------------------------------------------------------------------
# ConfigError
# ------------------------------------------------------------------------------------------


def test_config_error_is_one_class_with_a_path() -> None:
    assert config.ConfigError is ConfigError and issubclass(ConfigError, ValueError)
    error = ConfigError("bad", path=("beta1",), choices=["betas"]).within("optimizer")
    assert error.path == ("optimizer", "beta1") and str(error) == "bad" and error.choices == ["betas"]
    located = error.at("cfg.yaml", 7)
    assert str(located) == "cfg.yaml:7: bad" and located.args == ("cfg.yaml:7: bad",) and located.message == "bad"
    assert str(error.at("cfg.yaml", None)) == "cfg.yaml: bad"
    assert located.at("other.yaml", 1) is located  # located once, where it was found
    again = pickle.loads(pickle.dumps(located))
    assert type(again) is ConfigError and (str(again), again.path, again.line) == (str(located), located.path, 7)
    assert render_path(("scheduler", "schedulers", 1, "T_max")) == "scheduler.schedulers[1].T_max"


def test_error_kinds_keep_the_types_callers_catch() -> None:
    assert issubclass(ArgumentError, TypeError) and issubclass(ArgumentError, ConfigError)
    assert issubclass(UnknownName, KeyError) and issubclass(UnknownName, UnknownNameError)
    with pytest.raises(UnknownName) as info:
        config.load({"optimizer": {"name": "SDG", "lr": 0.1}}, [torch.nn.Parameter(torch.zeros(1))])
    error = info.value
    assert error.path == ("optimizer", "name") and error.name == "SDG" and "sgd" in error.close
    assert str(error).startswith("optimizer: unknown optimizer 'SDG'")  # no KeyError quotes


def test_bind_raises_the_requested_error_class() -> None:
    with pytest.raises(TypeError, match="unknown key 'x'"):
        bind(target, {"lr": 1, "x": 2}, error=ArgumentError)


# ------------------------------------------------------------------------------------------
# Key paths and lines through the loaders
# ------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(path, [torch.nn.Parameter(torch.zeros(1))])
    return info.value


SEQUENTIAL = """\
optimizer: {name: SGD, lr: 0.1}
scheduler:
  name: SequentialLR
  milestones: [10]
  schedulers:
    - name: LinearLR
      total_iters: 10
    - name: CosineAnnealingLR
      T_maxx: 90
"""


def test_bad_key_in_the_second_child_of_a_sequential_lr_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, SEQUENTIAL)
    error = load_error(path)
    assert error.path == ("scheduler", "schedulers", 1, "T_maxx")
    assert str(error) == (
        f"{path}:9: scheduler.schedulers[1]: unknown key 'T_maxx' for CosineAnnealingLR; valid keys: name, T_max, "
        "eta_min, last_epoch (did you mean 'T_max'?)"
    )
    assert (error.file, error.line) == (str(path), 9)


def test_a_constructor_error_in_a_child_reports_the_child(tmp_path: Path) -> None:
    # LinearLR checks its own start_factor; the message is its own, the line the child's.
    path = write(tmp_path, SEQUENTIAL.replace("      T_maxx: 90", "      T_max: 90").replace(
        "      total_iters: 10", "      total_iters: 10\n      start_factor: 7"))
    error = load_error(path)
    assert error.path == ("scheduler", "schedulers", 0) and error.line == 6 and "multiplicative factor" in str(error)


CEREBRAS = """\
optimizer:
  optimizer_type: AdamW
  optim_params:
    eps: 1e-8
    betas: [0.9, 0.95]
  learning_rate:
    - scheduler: Linear
      initial_learning_rate: 0.0
      end_learning_rate: 1e-3
      total_iters: 1e2
    - scheduler: CosineDecay
      initial_learning_rate: 1e-3
      end_learning_rate: tiny
      total_iters: 900
"""


def test_bad_value_in_a_cerebras_schedule_reports_the_line_of_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, CEREBRAS)
    error = load_error(path)
    assert error.path == ("optimizer", "learning_rate", 1, "end_learning_rate")
    assert str(error) == f"{path}:13: learning_rate[1]: CosineDecayLR: end_learning_rate='tiny' is not a number"


def test_cerebras_yaml_strings_become_numbers_everywhere(tmp_path: Path) -> None:
    opt, sched = config.load(write(tmp_path, CEREBRAS.replace("tiny", "1e-5")), [torch.nn.Parameter(torch.zeros(1))])
    assert opt.defaults["eps"] == 1e-8 and opt.defaults["betas"] == (0.9, 0.95)
    assert isinstance(sched, C.SequentialLR) and sched.milestones == [100]
    assert sched.lr_at(100) == pytest.approx([1e-3]) and sched.lr_at(1000) == pytest.approx([1e-5])


def test_nested_optim_params_key_reports_its_line(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, CEREBRAS.replace("    eps: 1e-8", "    epz: 1e-8")))
    assert error.path == ("optimizer", "optim_params", "epz") and error.line == 4
    assert "(did you mean 'eps'?)" in str(error)


def test_bad_list_item_value_reports_its_line(tmp_path: Path) -> None:
    text = "optimizer: {name: SGD, lr: 0.1}\nscheduler:\n  name: MultiStepLR\n  milestones:\n    - 10\n    - ten\n"
    error = load_error(write(tmp_path, text))
    assert error.path == ("scheduler", "milestones", 1) and error.line == 6
    assert "milestones[1]='ten' is not an integer" in str(error)


def test_top_level_typo_suggests_the_key(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "optimizer: {name: SGD, lr: 0.1}\nschedular: {}\n"))
    assert error.line == 2 and error.close == ["scheduler"] and str(error).endswith("(did you mean 'scheduler'?)")


# ------------------------------------------------------------------------------------------
# schedule_plot.build_named (the path of `optimkit plot NAME key=value`)
# ------------------------------------------------------------------------------------------


def test_build_named_says_a_string_is_not_a_number() -> None:
    # Before the binder this leaked "unsupported operand type(s) for /: 'str' and 'float'".
    with pytest.raises(ArgumentError) as info:
        build_named("onecycle", {"max_lr": "abc", "total_steps": 1000})
    assert str(info.value) == "OneCycleLR: max_lr='abc' is not a number"
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_build_named_keeps_its_documented_errors_and_reads_string_numbers() -> None:
    with pytest.raises(TypeError, match=r"OneCycleLR has no argument 'total_step' \(did you mean 'total_steps'\?\)"):
        build_named("onecycle", {"max_lr": 0.1, "total_step": 10})
    with pytest.raises(TypeError, match=r"^OneCycleLR needs max_lr \(e\.g\. max_lr=\.\.\.\); its arguments: max_lr, "
                                        r"total_steps=None"):
        build_named("onecycle", {"total_steps": 10})
    with pytest.raises(KeyError):
        build_named("onecylce", {})
    _, sched = build_named("onecycle", {"max_lr": "1e-1", "total_steps": "1e2", "anneal_strategy": "linear"})
    assert isinstance(sched, O.lr_scheduler.OneCycleLR) and sched.total_steps == 100
    assert inspect.signature(build_named).parameters["samples"].default is False
