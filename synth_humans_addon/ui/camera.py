"""Camera panel: R, θ1, θ2, lens, detector-like boxes; and the operator that shows the
hemisphere segment in the viewport (`hemisphere.py`).
"""
from __future__ import annotations

import math

import bpy

from .base import SynthHumansPanel, draws_settings, prop_column
from .hemisphere import update_hemisphere
from .scene_settings import settings
from .state import ensure_initialized
from .tables import draw_range


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


class SYNTHHUMANS_PT_camera(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Camera"
    bl_order = 2
    bl_options = {"DEFAULT_CLOSED"}

    @draws_settings
    def draw(layout, s):
        cam = s.spec.camera
        layout.use_property_split = True
        prop_column(layout, cam, ("radius", "theta1_deg", "theta2_deg"))
        prop_column(layout, cam, ("focal_length_mm", "sensor_width_mm", "aim_jitter_deg", "radius_jitter"))
        box = s.spec.box  # detector-like crops
        for name in ("scale", "aspect", "shift_x", "shift_y", "truncate_fraction"):
            draw_range(layout, box, name)
        prop_column(layout, box, ("truncate_head", "truncate_feet", "output_aspect"),
                    sliders=("truncate_head", "truncate_feet"))
        layout.prop(s, "show_hemisphere")
        layout.operator(SYNTHHUMANS_OT_update_segment.bl_idname, icon="SPHERE")


CLASSES = (SYNTHHUMANS_OT_update_segment, SYNTHHUMANS_PT_camera)
