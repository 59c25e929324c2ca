"""Renders docs/images/addon_preview.png with the add-on's preview operators: characters 1–4
of the `default` preset (first image each) at 256 px, each render beside its person mask.
Run from the repository root: .venv/bin/python docs/images/make_addon_preview.py
"""
import sys

import bpy
import numpy as np
from PIL import Image

sys.path.insert(0, ".")
import synth_humans_addon as addon  # noqa: E402
from synth_humans_addon.ui.state import settings  # noqa: E402

addon.register()
bpy.ops.synth_humans.load_preset(preset="default")
s = settings(bpy.context)
s.spec.render.crop_height, s.spec.render.samples = 256, 16
tiles = []
for index in range(4):
    s.preview_character = index
    bpy.ops.synth_humans.new_character()
    bpy.ops.synth_humans.show_mask()  # renders the current sample and puts its mask beside it
    img = bpy.data.images["SH Preview Render + Mask"]
    w, h = img.size
    tiles.append((np.array(img.pixels[:]).reshape(h, w, 4)[::-1, :, :3] * 255).round().astype(np.uint8))
height = max(t.shape[0] for t in tiles)
sheet = np.full((height, sum(t.shape[1] + 8 for t in tiles), 3), 255, np.uint8)
x = 0
for t in tiles:
    sheet[:t.shape[0], x:x + t.shape[1]] = t
    x += t.shape[1] + 8
Image.fromarray(sheet).save("docs/images/addon_preview.png")
addon.unregister()
