"""Background panel: kind (fixed colours, varied colours, cubemap, equirectangular), a
cubemap folder picker that checks the six faces, and the lighting ranges."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import IntProperty, StringProperty

from ..core.cubemaps import BUILTIN_CUBEMAPS
from ..core.image_files import check_cubemap_folder
from .base import SynthHumansPanel, draws_settings
from .scene_settings import settings
from .state import ensure_initialized, on_spec_edited
from .tables import draw_range, draw_strings, draw_weights


def cubemap_problems(spec_group, entry: str, base_dir: str) -> list[str]:
    """What is wrong with one cubemap entry (a folder or builtin:<name>); empty = fine."""
    if entry.startswith("builtin:"):
        name = entry.split(":", 1)[1]
        if name == "all" or name in BUILTIN_CUBEMAPS:
            return []
        return [f"unknown built-in cubemap {name!r} (known: all, {', '.join(BUILTIN_CUBEMAPS)})"]
    path = Path(bpy.path.abspath(entry)).expanduser()
    if not path.is_absolute() and base_dir:
        path = Path(base_dir) / path
    return check_cubemap_folder(path)


class SYNTHHUMANS_OT_add_cubemap(bpy.types.Operator):
    """Pick a cubemap folder; it is added only if all six faces (posx … negz) are there"""

    bl_idname = "synth_humans.add_cubemap"
    bl_label = "Add Cubemap Folder"
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(name="Folder", description="Folder with posx/negx/posy/negy/posz/negz images",
                              subtype="DIR_PATH")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        ensure_initialized(context)
        s = settings(context)
        folder = str(Path(bpy.path.abspath(self.directory)))
        problems = cubemap_problems(s.spec, folder, s.spec.base_dir)
        if problems:
            s.cubemap_report = "; ".join(problems)
            self.report({"ERROR"}, "\n".join(problems))
            return {"CANCELLED"}
        s.loading = True
        try:
            s.spec.background.cubemaps.add().value = folder
        finally:
            s.loading = False
        on_spec_edited(context)
        s.cubemap_report = f"{folder}: all six faces found"
        self.report({"INFO"}, s.cubemap_report)
        return {"FINISHED"}


class SYNTHHUMANS_OT_check_cubemaps(bpy.types.Operator):
    """Check every cubemap entry: each folder must hold the six faces posx … negz"""

    bl_idname = "synth_humans.check_cubemaps"
    bl_label = "Check Cubemaps"

    index: IntProperty(name="Entry", description="Check only this entry (-1 = all)", default=-1, min=-1)

    def execute(self, context):
        ensure_initialized(context)
        s = settings(context)
        entries = list(enumerate(r.value for r in s.spec.background.cubemaps))
        if self.index >= 0:
            entries = [e for e in entries if e[0] == self.index]
        problems = [f"background.cubemaps[{i}]: {m}" for i, e in entries
                    for m in cubemap_problems(s.spec, e, s.spec.base_dir)]
        s.cubemap_report = "\n".join(problems) if problems else f"{len(entries)} cubemap(s) complete"
        self.report({"ERROR"} if problems else {"INFO"}, s.cubemap_report)
        return {"CANCELLED"} if problems else {"FINISHED"}


class SYNTHHUMANS_PT_background(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Background & Light"
    bl_order = 3
    bl_options = {"DEFAULT_CLOSED"}

    @draws_settings
    def draw(layout, s):
        b = s.spec.background
        layout.prop(b, "kind")
        # Every kind's settings are shown (the unused ones greyed): a kind can only be chosen
        # once its list is filled (e.g. 'equirectangular' needs an image file first).
        for kind in ("fixed", "varied", "cubemap", "equirectangular"):
            col = layout.column()
            col.active = b.kind == kind
            if kind == "fixed":
                draw_strings(col, b, "colors", "background.colors")
            elif kind == "varied":
                draw_range(col, b, "value")
                draw_range(col, b, "saturation")
            elif kind == "cubemap":
                draw_strings(col, b, "cubemaps", "background.cubemaps")
                row = col.row(align=True)
                row.operator(SYNTHHUMANS_OT_add_cubemap.bl_idname, icon="FILE_FOLDER")
                row.operator(SYNTHHUMANS_OT_check_cubemaps.bl_idname, icon="CHECKMARK")
                for line in s.cubemap_report.splitlines():
                    col.label(text=line)
            else:
                draw_strings(col, b, "equirectangular", "background.equirectangular")
        draw_range(layout, b, "room_size")
        layout.prop(b, "per_image")
        draw_weights(layout, b, "structures", "background.structures")
        draw_range(layout, b, "structure_distance")
        layout.prop(b, "passers_by")
        layout.prop(b, "occluders")
        draw_range(layout, b, "passer_by_distance")
        layout.prop(b, "people_pool")
        layout.separator()
        li = s.spec.lighting
        layout.label(text="Lighting", icon="LIGHT_SUN")
        draw_weights(layout, li, "kinds", "lighting.kinds")
        for name in ("strength", "color_temperature_k", "elevation_deg", "world_strength"):
            draw_range(layout, li, name)


CLASSES = (SYNTHHUMANS_OT_add_cubemap, SYNTHHUMANS_OT_check_cubemaps, SYNTHHUMANS_PT_background)
