"""What every panel shares: its place in the sidebar, the preamble it draws, one field helper.

A panel subclasses `SynthHumansPanel` (with `bpy.types.Panel`) and writes its fields as
``@draws_settings def draw(layout, s)``: the decorator draws the hint before a preset is
loaded instead, and the last refused edit's message after the fields. Panels that draw
something else before a spec exists (Dataset) or nothing of the kind (the Characters
sub-panels) write an ordinary ``draw(self, context)``.
"""
from __future__ import annotations

import functools

from .scene_settings import settings
from .tables import draw_error


def ready_settings(layout, context):
    """The add-on's settings, or None (with a hint drawn) before a preset was loaded."""
    s = settings(context)
    if not s.initialized:
        layout.label(text="Load a preset in the Dataset panel first")
        return None
    return s


def draws_settings(fields):
    """`Panel.draw` from `fields(layout, s)` (`s`: the add-on's settings), with the preamble."""

    @functools.wraps(fields)
    def draw(self, context):
        s = ready_settings(self.layout, context)
        if s is None:
            return
        fields(self.layout, s)
        draw_error(self.layout, context)

    return draw


@draws_settings
def _no_fields(layout, s):
    """Only the hint or the error line (the Characters panel's fields are in its sub-panels)."""


class SynthHumansPanel:
    """Common placement: 3D viewport sidebar, tab "Synth Humans"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Synth Humans"
    draw = _no_fields

    @classmethod
    def poll(cls, context):
        return hasattr(context.scene, "synth_humans")


def prop_column(layout, group, names, sliders=()):
    """One aligned column of `group`'s properties `names` (those in `sliders` drawn as sliders)."""
    col = layout.column(align=True)
    for name in names:
        col.prop(group, name, slider=name in sliders)
    return col
