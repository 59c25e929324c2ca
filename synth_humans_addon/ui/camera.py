"""Camera panel: R, θ1, θ2, lens, detector-like boxes; and the operator that shows the
hemisphere segment in the viewport (`hemisphere.py`). Also the panels' common base
(`SynthHumansPanel`, `ready_settings`).
"""
from __future__ import annotations

import math

import bpy

from .hemisphere import update_hemisphere
from .scene_settings import settings
from .state import ensure_initialized
from .tables import draw_error, draw_range


class SYNTHHUMANS_OT_update_segment(bpy.types.Operator):
    """Redraw the camera hemisphere segment in the viewport from R, θ1 and θ2"""

    bl_idname = "synth_humans.update_segment"
    bl_label = "Show Camera Segment"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        ensure_initialized(context)
        s = settings(context)
        s.show_hemisphere = True
        update_hemisphere(context)
        cam = s.spec.camera
        area = 2 * math.pi * cam.radius ** 2 * (math.cos(math.radians(cam.theta1_deg)) -
                                                math.cos(math.radians(cam.theta2_deg)))
        self.report({"INFO"}, f"camera segment: R {cam.radius:g} m, θ {cam.theta1_deg:g}°–{cam.theta2_deg:g}°, "
                              f"{area:.1f} m²")
        return {"FINISHED"}


def ready_settings(layout, context):
    """The add-on's settings, or None (with a hint drawn) before a preset was loaded."""
    s = settings(context)
    if not s.initialized:
        layout.label(text="Load a preset in the Dataset panel first")
        return None
    return s


class SynthHumansPanel:
    """Common placement: 3D viewport sidebar, tab "Synth Humans"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Synth Humans"

    @classmethod
    def poll(cls, context):
        return hasattr(context.scene, "synth_humans")


class SYNTHHUMANS_PT_camera(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Camera"
    bl_order = 2
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        s = ready_settings(layout, context)
        if s is None:
            return
        cam = s.spec.camera
        layout.use_property_split = True
        col = layout.column(align=True)
        col.prop(cam, "radius")
        col.prop(cam, "theta1_deg")
        col.prop(cam, "theta2_deg")
        col = layout.column(align=True)
        col.prop(cam, "focal_length_mm")
        col.prop(cam, "sensor_width_mm")
        col.prop(cam, "aim_jitter_deg")
        col.prop(cam, "radius_jitter")
        box = s.spec.box  # detector-like crops
        for name in ("scale", "aspect", "shift_x", "shift_y", "truncate_fraction"):
            draw_range(layout, box, name)
        col = layout.column(align=True)
        col.prop(box, "truncate_head", slider=True)
        col.prop(box, "truncate_feet", slider=True)
        col.prop(box, "output_aspect")
        layout.prop(s, "show_hemisphere")
        layout.operator(SYNTHHUMANS_OT_update_segment.bl_idname, icon="SPHERE")
        draw_error(layout, context)


CLASSES = (SYNTHHUMANS_OT_update_segment, SYNTHHUMANS_PT_camera)
