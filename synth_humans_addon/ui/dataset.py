"""Dataset panel: seed, sizes, splits, preset (I–IV, default, tiny), load/save spec TOML."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core import presets
from ..core import spec as S
from .base import SynthHumansPanel, prop_column
from .scene_settings import settings
from .state import ensure_initialized, load_file, load_into_scene, save_file
from .tables import draw_error

_PRESET_HELP = {
    "I": "Study dataset I: fixed grey background, shirts and trousers, bright solid colours",
    "II": "Study dataset II: varied plain backgrounds, textured clothes",
    "III": "Study dataset III: as II plus hair and more textures",
    "IV-classic": "Study dataset IV as first made: cubemap backgrounds, all clothes and accessories, muted palettes",
    "IV": "IV-classic's people in real cameras' scenes: structures, detector-like boxes, steeper camera, harder light",
    "IV-realistic": "IV with real-world colour frequencies, plain trousers and dark hair",
    "default": "Small preset-IV dataset that renders in minutes (the README's main job)",
    "tiny": "Smallest useful dataset (tests)",
}
_PRESET_ITEMS = [(n, n, _PRESET_HELP.get(n, n)) for n in presets.PRESET_NAMES]


class SYNTHHUMANS_OT_load_preset(bpy.types.Operator):
    """Replace the spec in the panels with a built-in preset"""

    bl_idname = "synth_humans.load_preset"
    bl_label = "Load Preset"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name="Preset", description="Built-in spec to load",
                         items=_PRESET_ITEMS, default="default")

    def execute(self, context):
        load_into_scene(context, presets.preset(self.preset))
        self.report({"INFO"}, f"loaded preset {self.preset}")
        return {"FINISHED"}


class SYNTHHUMANS_OT_load_spec(bpy.types.Operator, ImportHelper):
    """Load a dataset spec from a TOML file (refused with the validation's messages if invalid)"""

    bl_idname = "synth_humans.load_spec"
    bl_label = "Load Spec"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".toml"
    filter_glob: StringProperty(default="*.toml", options={"HIDDEN"}, description="Show only TOML files")

    def execute(self, context):
        try:
            spec = load_file(context, self.filepath)
        except S.SpecError as exc:
            settings(context).error = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"loaded {spec.dataset.name!r} from {self.filepath}")
        return {"FINISHED"}


class SYNTHHUMANS_OT_save_spec(bpy.types.Operator, ExportHelper):
    """Save the spec in the panels as a TOML file (validated first, files included)"""

    bl_idname = "synth_humans.save_spec"
    bl_label = "Save Spec"

    filename_ext = ".toml"
    filter_glob: StringProperty(default="*.toml", options={"HIDDEN"}, description="Show only TOML files")

    def execute(self, context):
        try:
            save_file(context, self.filepath)
        except S.SpecError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"saved {self.filepath}")
        return {"FINISHED"}


class SYNTHHUMANS_PT_dataset(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Dataset"
    bl_order = 0

    def draw(self, context):
        layout = self.layout
        s = settings(context)
        row = layout.row(align=True)
        row.operator_menu_enum(SYNTHHUMANS_OT_load_preset.bl_idname, "preset", text="Preset", icon="PRESET")
        row.operator(SYNTHHUMANS_OT_load_spec.bl_idname, text="", icon="FILEBROWSER")
        row.operator(SYNTHHUMANS_OT_save_spec.bl_idname, text="", icon="FILE_TICK")
        if not s.initialized:
            start = layout.operator(SYNTHHUMANS_OT_load_preset.bl_idname, text="Start from the Default Preset",
                                    icon="PLAY")
            start.preset = "default"
            layout.label(text="or choose a preset / load a spec TOML above")
            return
        d = s.spec.dataset
        layout.use_property_split = True
        layout.prop(d, "name")
        layout.prop(d, "seed")
        prop_column(layout, d, ("characters", "images_per_character"))
        col = prop_column(layout, d, ("test_characters", "validation_characters"))
        train = d.characters - d.test_characters - d.validation_characters
        col.label(text=f"train {train} · test {d.test_characters} · val {d.validation_characters} · "
                       f"{d.characters * d.images_per_character} images")
        prop_column(layout, d, ("camera_id_mode", "camera_id_bins"))
        if s.spec_path:
            layout.label(text=bpy.path.basename(s.spec_path), icon="FILE")
        draw_error(layout, context)


CLASSES = (SYNTHHUMANS_OT_load_preset, SYNTHHUMANS_OT_load_spec, SYNTHHUMANS_OT_save_spec, SYNTHHUMANS_PT_dataset)

# `ensure_initialized` is used by the other panels' operators; re-exported for them.
__all__ = ["CLASSES", "ensure_initialized"]
