"""The spec held by a scene: fill it, read it back, and accept or refuse each edit.

Every edit of a spec property lands in `on_spec_edited`. The whole spec is re-validated
with `core.spec_validation.validate_spec` (files are checked later, when saving or generating: a
half-typed path must not be refused); if the edit introduces a problem in a field that was
fine before, the panels go back to the last accepted spec and `settings.error` shows the
validation's own messages ("camera.theta1_deg: θ1 (88.0) must be smaller than θ2 …").
"""
from __future__ import annotations

import json
from pathlib import Path

import bpy

from ..core import presets
from ..core import spec as S
from ..core.spec_io import load_spec, save_spec, spec_from_dict, spec_to_dict
from ..core.spec_props import props_to_dict, props_to_spec, spec_to_props
from ..core.spec_validation import validate_spec
from .hemisphere import update_hemisphere
from .scene_settings import settings

PANEL_SOURCE = "the Synth Humans panels"


def format_problems(problems: list[tuple[str, str]]) -> str:
    """The lines `SpecError` prints: one ``field: message`` per problem."""
    return "\n".join(f"{field}: {message}" for field, message in problems)


def load_into_scene(context: bpy.types.Context, spec: S.Spec, path: str = "") -> None:
    """Show `spec` in the panels (and remember it as the accepted one)."""
    s = settings(context)
    s.loading = True
    try:
        spec_to_props(spec, s.spec)
    finally:
        s.loading = False
    s.accepted_spec = json.dumps(spec_to_dict(spec))
    s.initialized = True
    s.error = ""
    if path:
        s.spec_path = path
    _spec_changed(context)


def ensure_initialized(context: bpy.types.Context) -> None:
    """A scene that never had a spec starts from the `default` preset."""
    if not settings(context).initialized:
        load_into_scene(context, presets.preset("default"))


def current_spec(context: bpy.types.Context, check_files: bool = True) -> S.Spec:
    """The spec in the panels, fully validated (raises `SpecError` naming every bad field)."""
    ensure_initialized(context)
    spec = props_to_spec(settings(context).spec) if check_files else _unchecked(context)
    return spec


def _unchecked(context: bpy.types.Context) -> S.Spec:
    data, problems = props_to_dict(settings(context).spec)
    if problems:
        raise S.SpecError(problems, PANEL_SOURCE)
    spec = spec_from_dict(data, source=PANEL_SOURCE, validate=False)
    problems = validate_spec(spec, check_files=False)
    if problems:
        raise S.SpecError(problems, PANEL_SOURCE)
    return spec


def spec_problems(data: dict) -> list[tuple[str, str]]:
    """Problems of a spec dict, file checks left out."""
    try:
        spec = spec_from_dict(data, source=PANEL_SOURCE, validate=False)
    except S.SpecError as exc:
        return exc.problems
    return validate_spec(spec, check_files=False)


def on_spec_edited(context: bpy.types.Context) -> None:
    """Accept the edit, or refuse it with the validation's messages and restore the spec."""
    s = settings(context)
    if s.loading or not s.initialized:
        return
    data, problems = props_to_dict(s.spec)
    problems = problems + spec_problems(data)
    accepted = json.loads(s.accepted_spec) if s.accepted_spec else None
    known = {f for f, _ in spec_problems(accepted)} if accepted else set()
    new = [p for p in problems if p[0] not in known]
    if new and accepted is not None:
        s.loading = True
        try:
            spec_to_props(spec_from_dict(accepted, validate=False), s.spec)
        finally:
            s.loading = False
        s.error = format_problems(new)
        print(f"Synth Humans: edit refused:\n{s.error}")
        return
    s.accepted_spec = json.dumps(data)
    s.error = ""
    _spec_changed(context)


def _spec_changed(context: bpy.types.Context) -> None:
    """Keep what the viewport shows in step with the spec."""
    update_hemisphere(context)


def load_file(context: bpy.types.Context, path: str) -> S.Spec:
    spec = load_spec(path)
    load_into_scene(context, spec, str(Path(path)))
    return spec


def save_file(context: bpy.types.Context, path: str) -> S.Spec:
    spec = current_spec(context)
    save_spec(spec, path)
    settings(context).spec_path = str(Path(path))
    return spec
