"""Reading and writing the dataset spec (`spec.Spec`): plain dicts, TOML files, and the
spec's identity.

* `spec_to_dict` / `spec_from_dict`: the JSON/TOML-ready dict the farm sends to its workers
  and the job table stores. `spec_from_dict` names every badly typed field (`SpecError`; the
  typing rules are `typed_options`', shared with every options table) and, unless told not
  to, validates (`spec_validation.validate_spec`).
* `load_spec` / `save_spec` / `dumps_toml`: TOML files.
* `spec_fingerprint`: the one hash that says whether two specs describe the same dataset.

Nothing here imports `bpy`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from .spec import Range, Spec, SpecError
from .spec_validation import validate_spec
from .typed_options import INVALID, Problem, is_number, read_fields

# ---------------------------------------------------------------------------------------
# dict <-> dataclass


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """Plain JSON/TOML-ready dict (ranges as {low, high, distribution})."""
    return dataclasses.asdict(spec)


def _read_range(value: Any, path: str, problems: list[Problem]) -> Any:
    """A `Range` from ``[low, high]``, ``{low, high, distribution}`` or one number (a constant);
    else INVALID, the reason in `problems`."""
    if isinstance(value, Range):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(v) for v in value):
        return Range(float(value[0]), float(value[1]))
    if isinstance(value, dict):
        unknown = set(value) - {"low", "high", "distribution"}
        if unknown or not {"low", "high"} <= set(value):
            problems.append(Problem(path, "expected {low = .., high = .., distribution = ..} or [low, high]"))
            return INVALID
        if not (is_number(value["low"]) and is_number(value["high"])):
            problems.append(Problem(path, "low and high must be numbers"))
            return INVALID
        return Range(float(value["low"]), float(value["high"]), str(value.get("distribution", "uniform")))
    if is_number(value):
        return Range(float(value), float(value))
    problems.append(Problem(path, "expected a range [low, high]", value))
    return INVALID


def spec_from_dict(data: dict[str, Any], source: str | None = None, validate: bool = True) -> Spec:
    """Build a Spec from a plain dict (TOML or JSON). Raises SpecError naming each bad field."""
    read: list[Problem] = []
    spec = read_fields(Spec, data, "", read, {Range: _read_range})
    problems = [(p.field, p.message) for p in read]
    if validate:
        # Every problem in one pass: the values checks run on what could be read (a field that
        # could not is left at its default), and report only fields not already named.
        try:
            check = validate_spec(spec)
        except Exception:  # a partly read spec the checks cannot judge: the reading problems say enough
            if not problems:
                raise
            check = []
        named = {path for path, _ in problems}
        problems += [(path, why) for path, why in check if path not in named]
    if problems:
        raise SpecError(problems, source)
    return spec


def load_spec(path: str | Path, validate: bool = True) -> Spec:
    """Read a spec TOML file. Relative paths inside it resolve against the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([("file", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([("file", f"not valid TOML: {exc}")], str(path)) from None
    data.setdefault("base_dir", str(path.resolve().parent))
    return spec_from_dict(data, source=str(path), validate=validate)


def save_spec(spec: Spec, path: str | Path) -> None:
    """Write `spec` as TOML, without `base_dir`: loading takes the file's own folder."""
    Path(path).write_text(dumps_toml(spec_to_dict(spec), skip={"base_dir"}), encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Writing TOML: tomli-w (pure Python; bundled as a wheel in the Blender extension), so any
# key or string a user types (a palette named "grün", quotes, newlines) loads back.


def _compact(value: Any) -> Any:
    """Uniform ranges as ``[low, high]`` pairs, the way people write them."""
    if isinstance(value, dict):
        if set(value) == {"low", "high", "distribution"} and value["distribution"] == "uniform":
            return [value["low"], value["high"]]
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_compact(v) for v in value]
    return value


def dumps_toml(data: dict[str, Any], skip: set[str] = frozenset()) -> str:
    """TOML text of a spec dict (or any dict of TOML-able values) that `tomllib` reads back equal."""
    import tomli_w

    return tomli_w.dumps({k: _compact(v) for k, v in data.items() if k not in skip})


# ---------------------------------------------------------------------------------------
# Identity


# Background fields about other people: with no passers-by and no occluders they decide
# nothing, and specs written before they existed must keep their fingerprint.
OTHER_PEOPLE_FIELDS = ("passers_by", "occluders", "passer_by_distance", "people_pool")


def spec_identity(spec_dict: dict[str, Any]) -> dict[str, Any]:
    """The parts of a spec dict that decide the dataset: all but `base_dir`, the folder
    relative paths resolve against, which differs per machine, not per result, and the
    other-people fields while there are no other people (`OTHER_PEOPLE_FIELDS`), and
    `background.per_image` while it is off."""
    identity = {k: v for k, v in spec_dict.items() if k != "base_dir"}
    background = identity.get("background")
    if isinstance(background, dict):
        left_out = set() if background.get("per_image") else {"per_image"}  # off: as before the field
        if not background.get("passers_by") and not background.get("occluders"):
            left_out |= set(OTHER_PEOPLE_FIELDS)
        identity["background"] = {k: v for k, v in background.items() if k not in left_out}
    return identity


def spec_fingerprint(spec_dict: dict[str, Any]) -> str:
    """SHA-256 (hex) of a spec dict's identity: equal for specs that make the same dataset.

    Stored in every farm job table (a resumed run must use the same spec), so the value
    must not change between versions: key order is sorted, and fields added later are left
    out while they decide nothing (`spec_identity`); nothing else is normalised.
    """
    return hashlib.sha256(json.dumps(spec_identity(spec_dict), sort_keys=True).encode()).hexdigest()
