"""A spec written into the add-on's property groups and read back (plain Python, no bpy).

`ui/props.py` generates one Blender PropertyGroup per spec section and one property per
field; this module walks the same dataclasses to fill such a group from a `Spec`
(`spec_to_props`) and to read it back (`props_to_dict`, `props_to_spec`). The groups are
used only through attribute access and their collections' `clear()` / `add()`, so no bpy
import is needed here. Both ways round-trip exactly: Blender stores floats in single
precision, so each float is read back as the shortest decimal that maps to the same
single-precision number (0.1 stays 0.1; values need ≤ 6 significant digits).
"""
from __future__ import annotations

import dataclasses
import struct
import typing
from typing import Any, get_type_hints

from . import spec as S
from .spec_io import spec_from_dict

INT32 = 2**31 - 1


def field_kind(typ: Any) -> str:
    """section | range | weights | strings | palettes | int | float | str | bool."""
    if typ is S.Range:
        return "range"
    if dataclasses.is_dataclass(typ):
        return "section"
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is dict and args[1] is float:
        return "weights"
    if origin is list and args[0] is str:
        return "strings"
    if origin is dict and typing.get_origin(args[1]) is list:
        return "palettes"
    if typ in (int, float, str, bool):
        return typ.__name__
    raise TypeError(f"spec field type {typ!r} has no UI mapping: add one to core/spec_props.py and ui/props.py")


def spec_fields(cls: type) -> list[tuple[str, Any]]:
    hints = get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def single_to_double(value: float) -> float:
    """The shortest decimal that has the same single-precision value (undoes float32 storage)."""
    try:
        target = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == target:
            return candidate
    return target


def spec_to_props(spec: S.Spec, group) -> None:
    """Write every field of `spec` into the generated property group (collections replaced).

    Raises `SpecError` before writing anything if a value cannot be held by a Blender
    property (a whole number beyond 32 bits).
    """
    problems = unrepresentable(spec)
    if problems:
        raise S.SpecError(problems)
    _fill(group, spec, type(spec))


def unrepresentable(obj, cls=S.Spec, prefix: str = "") -> list[tuple[str, str]]:
    """Fields whose values Blender's properties cannot hold (integers beyond ±2³¹−1)."""
    problems = []
    for fname, typ in spec_fields(cls):
        value, kind = getattr(obj, fname), field_kind(typ)
        if kind == "section":
            problems += unrepresentable(value, typ, f"{prefix}{fname}.")
        elif kind == "int" and not -INT32 <= value <= INT32:
            problems.append((f"{prefix}{fname}", f"must lie within ±{INT32} to be edited in Blender, got {value}"))
    return problems


def _fill(group, obj, cls) -> None:
    for fname, typ in spec_fields(cls):
        kind, value = field_kind(typ), getattr(obj, fname)
        if kind == "section":
            _fill(getattr(group, fname), value, typ)
        elif kind == "range":
            r = getattr(group, fname)
            r.low, r.high, r.distribution = value.low, value.high, value.distribution
        elif kind == "weights":
            coll = getattr(group, fname)
            coll.clear()
            for key, weight in value.items():
                row = coll.add()
                row.name, row.weight = key, weight
        elif kind == "strings":
            coll = getattr(group, fname)
            coll.clear()
            for text in value:
                coll.add().value = text
        elif kind == "palettes":
            coll = getattr(group, fname)
            coll.clear()
            for key, colors in value.items():
                row = coll.add()
                row.name = key
                for text in colors:
                    row.colors.add().value = text
        else:
            setattr(group, fname, value)


def props_to_dict(group) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The spec as a plain dict (like `spec_to_dict`) plus problems the UI alone can cause.

    The only such problem is a name used twice in one table (TOML cannot even express it).
    """
    problems: list[tuple[str, str]] = []
    return _read(group, S.Spec, "", problems), problems


def _read(group, cls, prefix: str, problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fname, typ in spec_fields(cls):
        kind, path = field_kind(typ), f"{prefix}{fname}"
        value = getattr(group, fname)
        if kind == "section":
            out[fname] = _read(value, typ, f"{path}.", problems)
        elif kind == "range":
            out[fname] = {"low": single_to_double(value.low), "high": single_to_double(value.high),
                          "distribution": value.distribution}
        elif kind == "weights":
            out[fname] = _unique(path, [(row.name, single_to_double(row.weight)) for row in value], problems)
        elif kind == "strings":
            out[fname] = [row.value for row in value]
        elif kind == "palettes":
            out[fname] = _unique(path, [(row.name, [c.value for c in row.colors]) for row in value], problems)
        elif kind == "float":
            out[fname] = single_to_double(value)
        else:
            out[fname] = value
    return out


def _unique(path: str, pairs: list[tuple[str, Any]], problems) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, value in pairs:
        if key in table:
            problems.append((f"{path}.{key}", f"listed twice; each name may appear once in {path}"))
        table[key] = value
    return table


def props_to_spec(group) -> S.Spec:
    """The spec the properties describe, validated like a TOML file (raises `SpecError`)."""
    data, problems = props_to_dict(group)
    if problems:
        raise S.SpecError(problems, "the Synth Humans panels")
    return spec_from_dict(data, source="the Synth Humans panels")
