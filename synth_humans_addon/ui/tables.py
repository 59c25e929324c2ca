"""Drawing helpers for spec fields, and the operators that add and remove table rows.

A table is addressed by its spec path: "clothing.tops", "background.colors",
"clothing.custom_palettes" or "clothing.custom_palettes[2].colors" (one palette's colours).
"""
from __future__ import annotations

import re

import bpy
from bpy.props import IntProperty, StringProperty

from ..core import field_info as fields
from .scene_settings import settings
from .state import ensure_initialized, on_spec_edited

_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")


def resolve(spec_group, path: str):
    """The property collection at a spec path (raises KeyError naming the path)."""
    obj = spec_group
    for part in path.split("."):
        m = _INDEXED.match(part)
        try:
            obj = getattr(obj, m.group(1))[int(m.group(2))] if m else getattr(obj, part)
        except (AttributeError, IndexError):
            raise KeyError(f"no spec table at {path!r}") from None
    return obj


def catalogue_names(spec_group, path: str) -> list[str]:
    """Names the "+" button of a weight table offers (custom palettes included where allowed)."""
    names = []
    for n in fields.info(path).catalogue:
        if n == "*palettes":
            names += [row.name for row in spec_group.clothing.custom_palettes if row.name]
        else:
            names.append(n)
    return names


def _base_path(path: str) -> str:
    """'clothing.custom_palettes[2].colors' → 'clothing.custom_palettes.colors'."""
    return re.sub(r"\[\d+\]", "", path)


def free_names(spec_group, path: str) -> list[str]:
    """Catalogue names not yet in the weight table at `path`."""
    taken = {row.name for row in resolve(spec_group, path)}
    return [n for n in catalogue_names(spec_group, path) if n not in taken]


def _resolve_table(op, context):
    """(settings, the collection at `op.path`), or None after reporting an unknown path."""
    ensure_initialized(context)
    s = settings(context)
    try:
        return s, resolve(s.spec, op.path)
    except KeyError as exc:
        op.report({"ERROR"}, str(exc))
        return None


class SYNTHHUMANS_OT_table_add(bpy.types.Operator):
    """Add a row to a spec table"""

    bl_idname = "synth_humans.table_add"
    bl_label = "Add Row"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    path: StringProperty(name="Table", description="Spec path of the table (e.g. clothing.tops)")
    choice: StringProperty(name="Name", description="Which catalogue name to add (weight tables)")

    def invoke(self, context, event):
        if self._kind() != "weights" or self.choice:
            return self.execute(context)
        path = self.path
        names = free_names(settings(context).spec, path)
        if not names:
            self.report({"INFO"}, f"every choice of {path} is already listed")
            return {"CANCELLED"}

        def draw(menu, _context):
            menu.layout.operator_context = "EXEC_DEFAULT"
            for name in names:
                op = menu.layout.operator(SYNTHHUMANS_OT_table_add.bl_idname, text=name.replace("_", " ").title())
                op.path, op.choice = path, name

        context.window_manager.popup_menu(draw, title=f"Add to {path}")
        return {"FINISHED"}

    def _kind(self) -> str:
        base = _base_path(self.path)
        if base == "clothing.custom_palettes":
            return "palettes"
        if base.endswith("colors"):
            return "colors"
        return "weights" if fields.info(base).catalogue else "strings"

    def execute(self, context):
        found = _resolve_table(self, context)
        if found is None:
            return {"CANCELLED"}
        s, coll = found
        kind = self._kind()
        s.loading = True  # one check after the row is complete, not one per field
        try:
            row = coll.add()
            if kind == "weights":
                if self.choice not in free_names(s.spec, self.path) + [""] or not self.choice:
                    coll.remove(len(coll) - 1)
                    raise ValueError(f"cannot add {self.choice!r} to {self.path} (free: "
                                     f"{', '.join(free_names(s.spec, self.path)) or 'none'})")
                row.name = self.choice
                row.weight = 0.0 if fields.info(self.path).probabilities else 1.0
            elif kind == "colors":
                row.value = "#808080"
            elif kind == "palettes":
                taken = {r.name for r in coll}
                row.name = next(f"custom{i}" for i in range(1, 1000) if f"custom{i}" not in taken)
                row.colors.add().value = "#808080"
            else:
                row.value = ""
        except ValueError as exc:
            self.report({"WARNING"}, str(exc))
            return {"CANCELLED"}
        finally:
            s.loading = False
        return _checked(self, context)


class SYNTHHUMANS_OT_table_remove(bpy.types.Operator):
    """Remove this row from the spec table"""

    bl_idname = "synth_humans.table_remove"
    bl_label = "Remove Row"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    path: StringProperty(name="Table", description="Spec path of the table (e.g. clothing.tops)")
    index: IntProperty(name="Row", description="Index of the row to remove", min=0)

    def execute(self, context):
        found = _resolve_table(self, context)
        if found is None:
            return {"CANCELLED"}
        s, coll = found
        if self.index >= len(coll):
            self.report({"ERROR"}, f"{self.path} has no row {self.index}")
            return {"CANCELLED"}
        coll.remove(self.index)
        return _checked(self, context)


def _checked(op, context):
    """Run the spec check after a structural edit; report a refusal like a property edit."""
    s = settings(context)
    on_spec_edited(context)
    if s.error:
        op.report({"ERROR"}, s.error)
        return {"CANCELLED"}
    return {"FINISHED"}


# ---------------------------------------------------------------------------------------
# Drawing


def draw_range(layout, section, fname: str) -> None:
    r = getattr(section, fname)
    row = layout.row(align=True)
    split = row.split(factor=0.38, align=True)
    split.label(text=_label(section, fname))
    sub = split.row(align=True)
    sub.prop(r, "low", text="")
    sub.prop(r, "high", text="")
    sub.prop(r, "distribution", text="")


def _label(group, fname: str) -> str:
    return group.bl_rna.properties[fname].name


def draw_weights(layout, section, fname: str, path: str) -> None:
    box = layout.box()
    head = box.row()
    head.label(text=_label(section, fname))
    add = head.operator(SYNTHHUMANS_OT_table_add.bl_idname, text="", icon="ADD")
    add.path = path
    coll = getattr(section, fname)
    if not len(coll):
        box.label(text="(none)")
    total = 0.0
    for i, row in enumerate(coll):
        line = box.row(align=True)
        line.label(text=row.name.replace("_", " ").title() or "?")
        line.prop(row, "weight", text="")
        rm = line.operator(SYNTHHUMANS_OT_table_remove.bl_idname, text="", icon="X")
        rm.path, rm.index = path, i
        total += row.weight
    if fields.info(path).probabilities and len(coll):
        box.label(text=f"none: {max(0.0, 1.0 - total):.0%}")


def draw_strings(layout, section, fname: str, path: str) -> None:
    box = layout.box()
    head = box.row()
    head.label(text=_label(section, fname))
    add = head.operator(SYNTHHUMANS_OT_table_add.bl_idname, text="", icon="ADD")
    add.path = path
    for i, row in enumerate(getattr(section, fname)):
        line = box.row(align=True)
        if "swatch" in row.bl_rna.properties:
            line.prop(row, "swatch", text="")
        line.prop(row, "value", text="")
        rm = line.operator(SYNTHHUMANS_OT_table_remove.bl_idname, text="", icon="X")
        rm.path, rm.index = path, i


def draw_custom_palettes(layout, section) -> None:
    path = "clothing.custom_palettes"
    box = layout.box()
    head = box.row()
    head.label(text="Custom Palettes")
    head.operator(SYNTHHUMANS_OT_table_add.bl_idname, text="", icon="ADD").path = path
    for i, pal in enumerate(section.custom_palettes):
        line = box.row(align=True)
        line.prop(pal, "name", text="")
        add = line.operator(SYNTHHUMANS_OT_table_add.bl_idname, text="", icon="COLOR")
        add.path = f"{path}[{i}].colors"
        rm = line.operator(SYNTHHUMANS_OT_table_remove.bl_idname, text="", icon="X")
        rm.path, rm.index = path, i
        colors = box.row(align=True)
        for j, c in enumerate(pal.colors):
            col = colors.column(align=True)
            col.prop(c, "swatch", text="")
            rmc = col.operator(SYNTHHUMANS_OT_table_remove.bl_idname, text="", icon="X")
            rmc.path, rmc.index = f"{path}[{i}].colors", j


def draw_error(layout, context) -> None:
    """The last refused edit, in red, with the validation's own words."""
    s = settings(context)
    if not s.error:
        return
    box = layout.box()
    box.alert = True
    for n, line in enumerate(s.error.splitlines()):
        box.label(text=line, icon="ERROR" if n == 0 else "BLANK1")


CLASSES = (SYNTHHUMANS_OT_table_add, SYNTHHUMANS_OT_table_remove)
