"""Issue 15, part 3 (d): a config's ``sparsity`` section, and the mistakes in it: ConfigErrors at
the key path (``file:line:`` for a file), close matches, every further mistake in
``error.others``, and nothing applied to the caller's parameters when loading fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from optimkit import config
from optimkit.config import ConfigError
from optimkit.optim import SGD
from optimkit.registry import list_sparsity, sparsity_specs
from optimkit.sparsity import GMP, Static, attached, configure

OPTIMIZER = "optimizer:\n  name: AdamW\n  lr: 0.01\n"


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _load_error(tmp_path: Path, text: str, params: Any = None) -> ConfigError:
    path = tmp_path / "sparse.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(path, _model().parameters() if params is None else params)
    return info.value


@pytest.mark.parametrize(("section", "line", "key_path", "message"), [
    ("  algorithm: gmpp\n  sparsity: 0.9\n", 5, ("algorithm",),
     "sparsity.algorithm: unknown sparsity algorithm 'gmpp'; did you mean gmp? (valid: gmp, rigl, set, static)"),
    ("  algorithm: gmp\n  sparsity: 0.9\n  schedule:\n    end: 100\n    frq: 10\n", 9, ("schedule", "frq"),
     "sparsity.schedule: unknown key 'frq'; valid keys: start, end, freq, initial_sparsity (did you mean 'freq'?)"),
    ("  algorithm: static\n  sparsity: 0.5\n  sparsty: 0.4\n", 7, ("sparsty",),
     "sparsity: unknown key 'sparsty' for Static; valid keys: algorithm, sparsity, params, init_method, seed, "
     "param_filter (did you mean 'sparsity'?)"),
    ("  algorithm: static\n  sparsity: 1.5\n", 6, ("sparsity",), "sparsity.sparsity=1.5 must be a number in [0, 1)"),
    ("  algorithm: static\n  sparsity: high\n", 6, ("sparsity",), "sparsity.sparsity='high' is not a number"),
    ("  algorithm: gmp\n  sparsity: 0.5\n", 4, (), "sparsity: GMP is missing required key(s): schedule"),
    ("  sparsity: 0.5\n", 4, (), "sparsity: missing the 'algorithm' key (one of: gmp, rigl, set, static)"),
    ("  algorithm: static\n  sparsity: 0.5\n  init_method: rand\n", 7, ("init_method",),
     "sparsity.init_method='rand' is not one of 'magnitude', 'topk', 'random' (did you mean 'random'?)"),
    ("  algorithm: gmp\n  sparsity: 0.5\n  schedule: {end: 10, start: 10}\n", 7, ("schedule", "end"),
     "sparsity.schedule.end=10 must be after start=10"),
    ("  algorithm: gmp\n  sparsity: 0.5\n  schedule: {end: 10, initial_sparsity: 0.7}\n", 7,
     ("schedule", "initial_sparsity"),
     "sparsity.schedule.initial_sparsity=0.7 must not be above the target sparsity=0.5 (GMP only prunes)"),
    ("  algorithm: rigl\n  sparsity: 0.5\n  update:\n    freq: 0\n", 8, ("update", "freq"),
     "sparsity.update.freq=0 must be an integer >= 1"),
    ("  algorithm: set\n  sparsity: 0.5\n  drop_fraction_decay: cosine\n", 7, ("drop_fraction_decay",),
     "sparsity.drop_fraction_decay='cosine' decays to 0 at update.stop: give update.stop"),
    ("  algorithm: set\n  sparsity: 0.5\n  drop_fraction: 0\n", 7, ("drop_fraction",),
     "sparsity.drop_fraction=0 must be a number in (0, 1]"),
    ("  algorithm: static\n  sparsity: 0.5\n  params: '*.weight'\n", 7, ("params",),
     "sparsity.params: patterns need parameter names, and 4 of the optimizer's 4 parameters have none; build "
     "the optimizer from model.named_parameters() (or pass names=model)"),
])
def test_mistakes_point_at_their_key(tmp_path: Path, section: str, line: int, key_path: tuple[Any, ...],
                                     message: str) -> None:
    error = _load_error(tmp_path, OPTIMIZER + "sparsity:\n" + section)
    assert error.path == ("sparsity", *key_path)
    assert str(error) == f"{tmp_path / 'sparse.yaml'}:{line}: {message}"
    assert isinstance(error, ValueError)


def test_a_pattern_that_matches_nothing(tmp_path: Path) -> None:
    text = OPTIMIZER + "sparsity:\n  algorithm: static\n  sparsity: 0.5\n  param_filter:\n    - '*.weight'\n    - 'fc*'\n"
    error = _load_error(tmp_path, text, _model().named_parameters())
    assert error.path == ("sparsity", "param_filter", 1) and error.line == 9
    assert error.message == ("sparsity.param_filter[1]: 'fc*' matches no parameter "
                             "(names: 0.weight, 0.bias, 2.weight, 2.bias)")


def test_every_mistake_is_found_and_nothing_is_applied(tmp_path: Path) -> None:
    # The optimizer's mistake comes first in the file; the sparsity section's are found as well.
    # Looking for them builds the config again without the bad keys: the sparsity section is then
    # checked only, so the caller's weights keep every entry.
    model = _model()
    text = ("optimizer:\n  name: AdamW\n  lr: -1\n"
            "sparsity:\n  algorithm: static\n  sparsity: 0.5\n  seed: -2\n  init_method: rand\n")
    error = _load_error(tmp_path, text, model.parameters())
    assert error.path == ("optimizer", "lr")
    assert [(e.path, e.line) for e in error.others] == [(("sparsity", "seed"), 7), (("sparsity", "init_method"), 8)]
    assert all(bool((p != 0).all()) for p in model.parameters())
    error = _load_error(tmp_path, "optimizer:\n  name: AdamW\n  lr: -1\nsparsity:\n  algorithm: static\n"
                                  "  sparsity: 0.5\n", model.parameters())
    assert error.others == () and all(bool((p != 0).all()) for p in model.parameters())


def test_a_section_attaches_and_steps_itself() -> None:
    model = _model()
    opt, scheduler = config.load({"optimizer": {"name": "SGD", "lr": 0.1},
                                  "scheduler": {"name": "StepLR", "step_size": 5},
                                  "sparsity": {"algorithm": "GMP", "sparsity": "0.5",  # any case; YAML strings
                                               "schedule": {"end": "4e0", "freq": 2}}}, model.parameters())
    algorithm = attached(opt)
    assert isinstance(algorithm, GMP) and algorithm.auto_step and algorithm.schedule.end == 4
    assert scheduler is not None and attached(SGD(model.parameters(), lr=0.1)) is None
    for t in range(5):
        opt.zero_grad()
        model(torch.randn(4, 8)).pow(2).mean().backward()
        opt.step()
        assert algorithm.step_count == t + 1
    assert algorithm.actual_sparsity() == 0.5
    assert all(bool((p[~m] == 0).all()) for p, m in algorithm.masks.items())
    # One per optimizer; remove() lets another take its place.
    with pytest.raises(ValueError, match="already has a sparsity algorithm"):
        configure(opt, {"algorithm": "static", "sparsity": 0.1})
    algorithm.remove()
    assert attached(opt) is None and "sparsity" not in opt.state_dict()
    assert isinstance(configure(opt, {"algorithm": "static", "sparsity": 0.1}), Static)


def test_python_errors_are_value_errors_naming_the_key() -> None:
    opt = SGD(_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"^sparsity=1 must be a number in \[0, 1\)$") as info:
        configure(opt, {"algorithm": "static", "sparsity": 1})
    assert info.value.path == ("sparsity",)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"^schedule\.freq=0\.5 must be an integer >= 1$"):
        GMP(opt, sparsity=0.5, schedule={"end": 10, "freq": 0.5})
    with pytest.raises(ValueError, match=r"unknown key 'drop_fraction' for Static; .*"):
        configure(opt, {"algorithm": "static", "sparsity": 0.5, "drop_fraction": 0.1})
    with pytest.raises(ValueError, match=r"^params\[0\] is a tensor of shape \(3,\) that the optimizer does not hold$"):
        configure(opt, {"algorithm": "static", "sparsity": 0.5, "params": [torch.zeros(3)]})
    with pytest.raises(ValueError, match=r"^params is empty"):
        configure(opt, {"algorithm": "static", "sparsity": 0.5, "params": []})
    assert attached(opt) is None  # nothing half-built


def test_registry() -> None:
    assert list_sparsity() == ["gmp", "rigl", "set", "static"]
    assert [s.cls.__name__ for s in sparsity_specs()] == ["GMP", "RigL", "SET", "Static"]
    assert all(s.description and s.namespace == "sparsity" for s in sparsity_specs())
    assert "sparsity" in config.VALID_KEYS


def test_optimkit_list_sparsity(capsys: pytest.CaptureFixture[str]) -> None:
    from optimkit.cli import main

    assert main(["list", "sparsity"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == [["gmp", "GMP"], ["rigl", "RigL"], ["set", "SET"], ["static", "Static"]]
    assert main(["list", "sparsity", "gm"]) == 2
    assert capsys.readouterr().err == ("optimkit list: error: no sparsity algorithm matches 'gm'; did you mean gmp? "
                                       "(see: optimkit list sparsity)\n")
