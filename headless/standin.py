"""A fast stand-in renderer: PIL figures instead of Blender, for tests and benchmarks.

It meets the renderer contract `synth_humans_addon.core.renderer.Renderer` (spec, character →
list[RenderedImage]; `render_character`, with `sleep_s` bound) and draws the stand-in figure of
`synth_humans_addon.core.standin` in the character's sampled colours, from the image's camera
azimuth, on its background colour, with the exact mask. `sleep_s` per image simulates render time.
"""
from __future__ import annotations

import io
import time

from synth_humans_addon.core.dataset import RenderedImage
from synth_humans_addon.core.sampling import CharacterSample, ImageSample
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.standin import draw_figure, figure_of


def render_image(spec: Spec, character: CharacterSample, image: ImageSample) -> RenderedImage:
    h = spec.render.crop_height
    aspect = 0.35 + 0.25 * ((image.seed % 1000) / 1000.0)  # persons are ~0.35–0.6 as wide as tall
    w = max(8, int(round(h * aspect)))
    fig = figure_of(character, image, w, h)
    rgb, mask = draw_figure(fig)
    jpg, png = io.BytesIO(), io.BytesIO()
    rgb.save(jpg, "JPEG", quality=int(image.postprocess.jpeg_quality))
    mask.save(png, "PNG")
    head = fig.head_box()
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
