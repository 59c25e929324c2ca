"""Render panel: engine, samples, crop height and the camera-model degradations."""
from __future__ import annotations

import bpy

from .camera import SynthHumansPanel, ready_settings
from .tables import draw_error, draw_range


class SYNTHHUMANS_PT_render(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Render"
    bl_order = 4
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        s = ready_settings(layout, context)
        if s is None:
            return
        r = s.spec.render
        layout.use_property_split = True
        col = layout.column(align=True)
        col.prop(r, "engine")
        col.prop(r, "device")
        col = layout.column(align=True)
        col.prop(r, "samples")
        col.prop(r, "max_bounces")
        col.prop(r, "adaptive_threshold")
        col = layout.column(align=True)
        col.prop(r, "denoiser")
        col.prop(r, "denoiser_prefilter")
        col = layout.column(align=True)
        col.prop(r, "crop_height")
        col.prop(r, "margin")
        col.prop(r, "threads")
        layout.use_property_split = False
        layout.label(text="Camera degradations", icon="IMAGE_DATA")
        pp = s.spec.postprocess
        for name in ("noise_std", "blur_sigma", "jpeg_quality", "downscale", "color_cast", "exposure", "contrast"):
            draw_range(layout, pp, name)
        draw_error(layout, context)


CLASSES = (SYNTHHUMANS_PT_render,)
