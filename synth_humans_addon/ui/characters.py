"""Characters panel: body ranges, skin/ethnicity mix, clothing catalogue, palettes, hair,
accessories and poses (sub-panels, so each part folds away)."""
from __future__ import annotations

import bpy

from ..core.spec import ACCESSORY_KINDS
from .base import SynthHumansPanel, prop_column
from .scene_settings import settings
from .tables import draw_custom_palettes, draw_range, draw_strings, draw_weights


class _CharacterSub(SynthHumansPanel):
    """A fold of the Characters panel: shown once the spec exists, with no preamble of its own."""

    bl_parent_id = "SYNTHHUMANS_PT_characters"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        return hasattr(context.scene, "synth_humans") and settings(context).initialized


class SYNTHHUMANS_PT_characters(SynthHumansPanel, bpy.types.Panel):
    """The hint or the error line; the fields are in the sub-panels."""

    bl_label = "Characters"
    bl_order = 1


class SYNTHHUMANS_PT_characters_body(_CharacterSub, bpy.types.Panel):
    bl_label = "Body"

    def draw(self, context):
        c = settings(context).spec.character
        layout = self.layout
        for name in ("age_years", "gender_strength", "weight", "muscle", "height", "proportions"):
            draw_range(layout, c, name)
        layout.prop(c, "male_fraction", slider=True)
        draw_weights(layout, c, "ethnicity", "character.ethnicity")


class SYNTHHUMANS_PT_characters_clothing(_CharacterSub, bpy.types.Panel):
    bl_label = "Clothing"

    def draw(self, context):
        cl = settings(context).spec.clothing
        layout = self.layout
        for name in ("tops", "bottoms", "male_bottoms", "shoes"):
            draw_weights(layout, cl, name, f"clothing.{name}")
        layout.prop(cl, "jeans", slider=True)
        draw_weights(layout, cl, "palettes", "clothing.palettes")
        draw_weights(layout, cl, "top_palettes", "clothing.top_palettes")
        draw_weights(layout, cl, "bottom_palettes", "clothing.bottom_palettes")
        draw_weights(layout, cl, "shoe_palettes", "clothing.shoe_palettes")
        draw_weights(layout, cl, "textures", "clothing.textures")
        draw_weights(layout, cl, "top_textures", "clothing.top_textures")
        draw_weights(layout, cl, "bottom_textures", "clothing.bottom_textures")
        draw_range(layout, cl, "texture_scale")
        draw_custom_palettes(layout, cl)


class SYNTHHUMANS_PT_characters_hair(_CharacterSub, bpy.types.Panel):
    bl_label = "Hair & Accessories"

    def draw(self, context):
        spec = settings(context).spec
        layout = self.layout
        draw_weights(layout, spec.hair, "styles", "hair.styles")
        draw_weights(layout, spec.hair, "male_styles", "hair.male_styles")
        draw_weights(layout, spec.hair, "palettes", "hair.palettes")
        draw_range(layout, spec.hair, "volume")
        draw_range(layout, spec.hair, "ragged")
        prop_column(layout, spec.accessories, ACCESSORY_KINDS, sliders=ACCESSORY_KINDS)
        draw_weights(layout, spec.accessories, "palettes", "accessories.palettes")


class SYNTHHUMANS_PT_characters_pose(_CharacterSub, bpy.types.Panel):
    bl_label = "Pose"

    def draw(self, context):
        po = settings(context).spec.pose
        layout = self.layout
        draw_weights(layout, po, "sources", "pose.sources")
        draw_range(layout, po, "stride")
        draw_range(layout, po, "arm_swing")
        draw_strings(layout, po, "bvh_files", "pose.bvh_files")


CLASSES = (SYNTHHUMANS_PT_characters, SYNTHHUMANS_PT_characters_body, SYNTHHUMANS_PT_characters_clothing,
           SYNTHHUMANS_PT_characters_hair, SYNTHHUMANS_PT_characters_pose)
