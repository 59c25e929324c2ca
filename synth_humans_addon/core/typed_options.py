"""Plain tables (a TOML table, a JSON options file, a checkpoint's dict) read into dataclasses
of options: the rules every typed options object of the project shares, written once.

The spec (`spec_io`), the experiment file (`study.config`), re-id's options (`reid.options`)
and the refiner's (`refiner.options`, `segmenter_options`, `stats_match.MatchOptions`) read
and check their tables here:

* `read_value` / `read_fields`: a value becomes a field of the type its annotation names —
  a bool takes only true or false, an int a whole number (5.0 too), a float any number, a
  list or a table their items' type, a nested dataclass a table. An unknown key (with a
  did-you-mean) or a wrong type is a `Problem`, collected, so that a file's reader can name
  every mistake (the spec, the experiment); `options_from_dict` stops at the first (re-id and
  refiner options, which a command line maps back to a flag).
* `bound_problem` / `check_bounds`: a field against its module's CHOICES, MINIMUM and MAXIMUM.
* `OptionError`: one bad field, the base of each package's own `OptionsError`;
  `ProblemsError`: every problem of a file, the base of `SpecError` and `ExperimentError`.

What a value means together with others (θ1 < θ2, a frame the PatchGAN takes) stays with
its module. Plain Python, no bpy: the add-on reads specs with it.
"""
from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, Callable, Mapping, NamedTuple

from .cli_conventions import did_you_mean

INVALID = object()  # what `read_value` returns for a value it refused (None may be a value)
_NO_VALUE = object()


class Problem(NamedTuple):
    """One mistake in a table: the field's dotted path, why it is refused, the value given."""

    field: str
    reason: str  # without the field or the value, e.g. "expected a whole number"
    value: Any = _NO_VALUE  # left out where showing it says nothing (an unknown key)

    @property
    def message(self) -> str:
        """The reason with the value: the `(field, message)` pairs of the spec and the experiment."""
        return self.reason if self.value is _NO_VALUE else f"{self.reason}, got {self.value!r}"


class OptionError(ValueError):
    """One bad option. `field` names it (None: the table as a whole), `value` is what was given
    and `reason` says why without either, so a command line can name its flag instead:
    ``--batch-size 3: …``."""

    def __init__(self, message: str, field: str | None = None, value: Any = None, reason: str = ""):
        super().__init__(message)
        self.field, self.value, self.reason = field, value, reason or message

    @classmethod
    def of_field(cls, kind: str, field: str, value: Any, reason: str) -> "OptionError":
        """The error for `field` of the `kind` options (re-id, refiner, …) with this `reason`."""
        return cls(f"{kind} option `{field}` = {value!r}: {reason}", field, value, reason)


class ProblemsError(ValueError):
    """An invalid file of `what` (a dataset spec, an experiment): `problems` holds one
    ``(field, message)`` pair per problem; one is one line, several one per line under the first."""

    what = "table"

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems, self.source = problems, source
        where = f" in {source}" if source else ""
        lines = [f"invalid {self.what}{where}:"] + [f"  {f}: {m}" for f, m in problems]
        super().__init__(f"{lines[0]} {problems[0][0]}: {problems[0][1]}" if len(problems) == 1 else "\n".join(lines))


# ---------------------------------------------------------------------------------------
# Types


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, Any]:
    """Field name → its annotation, resolved (the modules write `from __future__ import annotations`)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def is_number(v: Any) -> bool:
    """An int or a float, not a bool (True is an int to Python, never a number to a user)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Scalar type → (the value converted, or INVALID; what was expected). TOML's true and false
# only for a bool: 0, 1 or "yes" are more likely typos than intent.
_SCALARS: dict[type, tuple[Callable[[Any], Any], str]] = {
    bool: (lambda v: v if isinstance(v, bool) else INVALID, "expected true or false"),
    int: (lambda v: int(v) if is_number(v) and float(v).is_integer() else INVALID, "expected a whole number"),
    float: (lambda v: float(v) if is_number(v) else INVALID, "expected a number"),
    str: (lambda v: v if isinstance(v, str) else INVALID, "expected a string"),
}

Reader = Callable[[Any, str, list], Any]  # (value, path, problems) → the field's value or INVALID


def read_value(value: Any, typ: Any, path: str, problems: list[Problem],
               readers: Mapping[type, Reader] | None = None) -> Any:
    """`value` as a field of type `typ` takes it, or INVALID with the reasons in `problems`.
    `readers` reads types of the caller's own (the spec's `Range`)."""
    readers = readers or {}
    if typ in readers:
        return readers[typ](value, path, problems)
    if typ is Any:
        return value
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            problems.append(Problem(path, "expected a table", value))
            return INVALID
        return read_fields(typ, value, path, problems, readers)
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            problems.append(Problem(path, "expected a list", value))
            return INVALID
        items = [read_value(v, args[0], f"{path}[{i}]", problems, readers) for i, v in enumerate(value)]
        return INVALID if any(v is INVALID for v in items) else items
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(Problem(path, "expected a table {name = value}", value))
            return INVALID
        table = {str(k): read_value(v, args[1], f"{path}.{k}", problems, readers) for k, v in value.items()}
        return INVALID if any(v is INVALID for v in table.values()) else table
    if typ not in _SCALARS:
        raise TypeError(f"unsupported field type {typ!r} at {path}")
    convert, expected = _SCALARS[typ]
    converted = convert(value)
    if converted is INVALID:
        problems.append(Problem(path, expected, value))
    return converted


def unknown_key(key: str, known: list[str]) -> str:
    """The reason an unknown key is refused: `unknown field; did you mean 'x'? (known: …)`."""
    return f"unknown field{did_you_mean(key, known)} (known: {', '.join(sorted(known))})"


def read_fields(cls: type, data: Mapping[str, Any], prefix: str, problems: list[Problem],
                readers: Mapping[type, Reader] | None = None):
    """An instance of the dataclass `cls` from the table `data`: fields it does not give, or
    gives wrongly (each named in `problems` by its path under `prefix`), keep their defaults."""
    types = field_types(cls)
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in types:
            problems.append(Problem(path, unknown_key(key, list(types))))
            continue
        converted = read_value(value, types[key], path, problems, readers)
        if converted is not INVALID:
            kwargs[key] = converted
    return cls(**kwargs)


def options_from_dict(cls: type, data: Any, kind: str, error: type[OptionError] = OptionError, see: str = ""):
    """The options object `cls` from `data`, not yet validated; `error` (a subclass of
    OptionError) names a table that is not one, every unknown key (a did-you-mean for the
    first, then `see`), or the first field of a wrong type."""
    if not isinstance(data, dict):
        raise error(f"expected a table of {kind} options, got {type(data).__name__} {data!r:.80}")
    types = field_types(cls)
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise error(f"unknown {kind} option(s) {', '.join(unknown)}{did_you_mean(unknown[0], types)}{see}",
                    unknown[0])
    kwargs = {}
    for key, value in data.items():
        problems: list[Problem] = []
        kwargs[key] = read_value(value, types[key], key, problems)
        if problems:  # an item of a list is named by its position in the reason
            first = problems[0]
            raise error.of_field(kind, key, value, first.reason if first.field == key else first.message)
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------
# Bounds


def bound_problem(name: str, value: Any, choices: Mapping[str, tuple] | None = None,
                  minimum: Mapping[str, float] | None = None, maximum: Mapping[str, float] | None = None) -> str | None:
    """Why the field `name` cannot hold `value` under its module's tables (a list's items are
    each a choice), or None."""
    allowed = (choices or {}).get(name)
    if allowed is not None and any(v not in allowed for v in (value if isinstance(value, list) else [value])):
        return f"must be one of {', '.join(allowed)}"
    low, high = (minimum or {}).get(name), (maximum or {}).get(name)
    if low is not None and value < low:
        return "must not be negative" if low == 0 else f"must be at least {low}"
    if high is not None and value > high:
        return f"must be at most {high}"
    return None


def check_bounds(options: Any, kind: str, error: type[OptionError], choices: Mapping[str, tuple] | None = None,
                 minimum: Mapping[str, float] | None = None, maximum: Mapping[str, float] | None = None,
                 also: Callable[[str, Any], str | None] | None = None) -> None:
    """Raise `error` naming the first field of `options` (in their order) out of the tables,
    or refused by `also(name, value)`, the module's own rule of a single field."""
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        why = bound_problem(f.name, value, choices, minimum, maximum) or (also(f.name, value) if also else None)
        if why:
            raise error.of_field(kind, f.name, value, why)


def fixed_fields_changed(stored: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                         changeable: frozenset[str] | set[str]) -> list[str]:
    """The fields of `overrides` a resumed run may not change and that differ from the run's
    `stored` options, sorted. Repeating a run's own value is not a change, so the command that
    started a run, with --resume added, continues it. Lists and tuples compare as equal (a
    checkpoint's JSON keeps tuples as lists)."""
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v
    return sorted(k for k, v in (overrides or {}).items()
                  if k not in changeable and plain(v) != plain(stored.get(k, _NO_VALUE)))
