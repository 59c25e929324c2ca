"""The shared rules of option tables (core.typed_options): types by annotation, unknown keys,
bounds, and the errors that name the field."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from synth_humans_addon.core.typed_options import (INVALID, OptionError, Problem, ProblemsError, bound_problem,
                                                   options_from_dict, read_fields, read_value)


@dataclass
class Inner:
    size: int = 1


@dataclass
class Table:
    epochs: int = 10
    lr: float = 0.1
    flip: bool = True
    name: str = "x"
    subsets: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def test_values_follow_their_annotation():
    problems: list[Problem] = []
    assert read_value(5.0, int, "epochs", problems) == 5 and read_value(2, float, "lr", problems) == 2.0
    assert problems == []
    for value, typ in ((True, int), (1, bool), (5.5, int), ("3", float), (3, str), (["a", 1], list[str])):
        assert read_value(value, typ, "f", problems) is INVALID
    assert [p.message for p in problems[:2]] == ["expected a whole number, got True", "expected true or false, got 1"]
    assert problems[-1].field == "f[1]"


def test_a_table_names_every_mistake_and_keeps_defaults():
    problems: list[Problem] = []
    t = read_fields(Table, {"epoch": 3, "lr": "fast", "weights": {"a": 1}, "inner": {"size": 2.0}}, "train", problems)
    assert t.lr == 0.1 and t.weights == {"a": 1.0} and t.inner.size == 2
    assert [p.field for p in problems] == ["train.epoch", "train.lr"]
    assert "did you mean 'epochs'" in problems[0].message and "(known: epochs, flip" in problems[0].message


def test_options_stop_at_the_first_mistake_naming_the_field():
    class Bad(OptionError):
        pass

    with pytest.raises(Bad) as err:
        options_from_dict(Table, {"epochs": "3"}, "demo", Bad)
    assert (err.value.field, err.value.value, err.value.reason) == ("epochs", "3", "expected a whole number")
    assert str(err.value) == "demo option `epochs` = '3': expected a whole number"
    with pytest.raises(Bad, match="unknown demo option.s. epoch; did you mean 'epochs'"):
        options_from_dict(Table, {"epoch": 3}, "demo", Bad)
    assert options_from_dict(Table, {"subsets": ["a"]}, "demo", Bad).subsets == ["a"]


def test_bounds_and_problem_lists():
    assert bound_problem("k", ["a", "c"], {"k": ("a", "b")}) == "must be one of a, b"
    assert bound_problem("n", -1, minimum={"n": 0}) == "must not be negative"
    assert bound_problem("n", 0, minimum={"n": 1}) == "must be at least 1"
    assert bound_problem("n", 3, maximum={"n": 2}) == "must be at most 2" and bound_problem("n", 3) is None
    assert str(ProblemsError([("a", "bad")], "f.toml")) == "invalid table in f.toml: a: bad"
