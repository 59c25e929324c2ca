"""A fast stand-in renderer: PIL silhouettes instead of Blender, for tests and benchmarks.

It meets the renderer contract `synth_humans_addon.core.renderer.Renderer` (spec,
character → list[RenderedImage]; `render_character`, with `sleep_s` bound) and draws a simple figure coloured from the
character's samples (skin, top, bottom, shoes, hair) on its background colour, with an exact
mask (the same shapes drawn in white). `sleep_s` per image simulates render time.
"""
from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image, ImageDraw

from synth_humans_addon.core.dataset import RenderedImage
from synth_humans_addon.core.sampling import CharacterSample, ImageSample
from synth_humans_addon.core.spec import Spec


def _hex(c: str | None, default: str) -> tuple[int, int, int]:
    c = (c or default).lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _figure_shapes(w: int, h: int, phase: float):
    """Body parts as (kind, box) in crop pixels; legs swing with the pose phase."""
    cx = w / 2
    swing = np.sin(2 * np.pi * phase) * w * 0.12
    head = (cx - w * 0.14, h * 0.02, cx + w * 0.14, h * 0.15)
    torso = (cx - w * 0.3, h * 0.15, cx + w * 0.3, h * 0.52)
    left_leg = [(cx - w * 0.22, h * 0.5), (cx - w * 0.02, h * 0.5), (cx - w * 0.05 + swing, h * 0.92),
                (cx - w * 0.22 + swing, h * 0.92)]
    right_leg = [(cx + w * 0.02, h * 0.5), (cx + w * 0.22, h * 0.5), (cx + w * 0.22 - swing, h * 0.92),
                 (cx + w * 0.05 - swing, h * 0.92)]
    shoes = [(cx - w * 0.26 + swing, h * 0.92, cx - w * 0.02 + swing, h * 0.98),
             (cx + w * 0.02 - swing, h * 0.92, cx + w * 0.26 - swing, h * 0.98)]
    return head, torso, left_leg, right_leg, shoes


def render_image(spec: Spec, character: CharacterSample, image: ImageSample) -> RenderedImage:
    h = spec.render.crop_height
    aspect = 0.35 + 0.25 * ((image.seed % 1000) / 1000.0)  # persons are ~0.35–0.6 as wide as tall
    w = max(8, int(round(h * aspect)))
    bg = _hex(character.background.colors[0] if character.background.colors else None, "#7f7f7f")
    rgb = Image.new("RGB", (w, h), bg)
    mask = Image.new("L", (w, h), 0)
    d, m = ImageDraw.Draw(rgb), ImageDraw.Draw(mask)
    head, torso, left_leg, right_leg, shoes = _figure_shapes(w, h, image.pose_phase)
    skin = _hex(character.body.skin_color, "#c09070")
    top = _hex(character.top.color if character.top else None, character.body.skin_color)
    bottom = _hex(character.bottom.color if character.bottom else None, character.body.skin_color)
    shoe = _hex(character.shoes.color if character.shoes else None, "#303030")
    d.ellipse(head, fill=skin)
    m.ellipse(head, fill=255)
    if character.hair:
        hair_box = (head[0], head[1], head[2], (head[1] + head[3]) / 2)
        d.chord(hair_box, 180, 360, fill=_hex(character.hair.color, "#302010"))
    d.rectangle(torso, fill=top)
    m.rectangle(torso, fill=255)
    for leg in (left_leg, right_leg):
        d.polygon(leg, fill=bottom)
        m.polygon(leg, fill=255)
    for s in shoes:
        d.rectangle(s, fill=shoe)
        m.rectangle(s, fill=255)
    jpg, png = io.BytesIO(), io.BytesIO()
    rgb.save(jpg, "JPEG", quality=int(image.postprocess.jpeg_quality))
    mask.save(png, "PNG")
    info = {"bbox": [0, 0, w, h], "frame_size": [w, h], "crop_size": [w, h], "renderer": "standin",
            "keypoints": {"head": [round((head[0] + head[2]) / 2, 1), round((head[1] + head[3]) / 2, 1), 1]}}
    return RenderedImage(k=image.k, image=jpg.getvalue(), mask=png.getvalue(), info=info)


def render_character(spec: Spec, character: CharacterSample, sleep_s: float = 0.0) -> list[RenderedImage]:
    """All images of one character; sleeps `sleep_s` per image to stand in for render time."""
    out = []
    for im in character.images:
        if sleep_s > 0:
            time.sleep(sleep_s)
        out.append(render_image(spec, character, im))
    return out
