"""Render panel: engine, samples, crop height and the camera-model degradations."""
from __future__ import annotations

import bpy

from .base import SynthHumansPanel, draws_settings, prop_column
from .tables import draw_range


class SYNTHHUMANS_PT_render(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Render"
    bl_order = 4
    bl_options = {"DEFAULT_CLOSED"}

    @draws_settings
    def draw(layout, s):
        r = s.spec.render
        layout.use_property_split = True
        for names in (("engine", "device"), ("samples", "max_bounces", "adaptive_threshold"),
                      ("denoiser", "denoiser_prefilter"), ("crop_height", "margin", "threads")):
            prop_column(layout, r, names)
        layout.use_property_split = False
        layout.label(text="Camera degradations", icon="IMAGE_DATA")
        pp = s.spec.postprocess
        for name in ("noise_std", "blur_sigma", "jpeg_quality", "downscale", "color_cast", "exposure", "contrast"):
            draw_range(layout, pp, name)


CLASSES = (SYNTHHUMANS_PT_render,)
