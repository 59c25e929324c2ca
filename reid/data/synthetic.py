"""Small procedural datasets in this project's format, for tests, demos and benchmarks.

Each character becomes a person-like silhouette whose colours come from its sampled
samples — skin, hair, top, bottom, shoes, backpack — drawn over its background colour,
varied per image by the sampled viewpoint (side views are narrower, back views hide the
face and show the backpack), pose phase (leg swing), light strength, scale and noise. The
identities are learnable but not trivially so; no Blender is involved.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synth_humans_addon.core import dataset as dsformat
from synth_humans_addon.core.palettes import hex_to_srgb
from synth_humans_addon.core.sampling import CharacterSample, ImageSample, assign_splits, expand_character
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_to_dict


def small_spec(characters: int = 60, images_per_character: int = 8, validation: int = 10, test: int = 10,
               seed: int = 0, palette: str = "bright", crop_height: int = 64) -> Spec:
    """A Spec for a tiny dataset (bright colours by default so identities separate)."""
    spec = Spec()
    d = spec.dataset
    d.name, d.seed, d.characters, d.images_per_character = "procedural", seed, characters, images_per_character
    d.validation_characters, d.test_characters = validation, test
    spec.clothing.palettes = {palette: 1.0}
    spec.render.crop_height = crop_height
    return spec


def _rgb(hex_color: str | None, default=(0.5, 0.5, 0.5)) -> np.ndarray:
    return np.array(hex_to_srgb(hex_color) if hex_color else default, float)


def draw_person(character: CharacterSample, image: ImageSample, height: int) -> tuple[bytes, bytes]:
    """(JPEG, PNG mask) of one procedural image of `character` seen as `image` describes."""
    rng = np.random.default_rng(image.seed)
    width = max(8, int(round(height * (0.36 + 0.08 * rng.random()))))
    az = math.radians(image.camera.azimuth_deg)
    facing = math.cos(az)  # 1 front, −1 back, 0 side
    body_w = 0.30 + 0.22 * abs(facing)  # side views are narrower
    scale = 0.88 + 0.1 * rng.random()
    bg = _rgb(character.background.colors[0] if character.background.colors else None)
    canvas = Image.new("RGB", (width, height), tuple(int(255 * c) for c in bg))
    mask = Image.new("L", (width, height), 0)
    d, dm = ImageDraw.Draw(canvas), ImageDraw.Draw(mask)
    top_y = height * (1 - scale) * rng.random()
    H = height * scale
    cx = width / 2 + rng.normal(0, width * 0.04)

    def rect(x0, y0, x1, y1, color, ellipse=False):
        box = [cx + x0 * width, top_y + y0 * H, cx + x1 * width, top_y + y1 * H]
        fill = tuple(int(255 * np.clip(c, 0, 1)) for c in color)
        (d.ellipse if ellipse else d.rectangle)(box, fill=fill)
        (dm.ellipse if ellipse else dm.rectangle)(box, fill=255)

    skin = _rgb(character.body.skin_color)
    top = _rgb(character.top.color if character.top else character.body.skin_color)
    bottom = _rgb(character.bottom.color if character.bottom else character.body.skin_color)
    shoes = _rgb(character.shoes.color if character.shoes else "#202020")
    hw = body_w / 2
    swing = 0.08 * math.sin(2 * math.pi * image.pose_phase) * abs(math.sin(az))
    rect(-hw * 0.45, 0.52, -hw * 0.05, 0.95, bottom)  # legs
    rect(hw * 0.05 + swing * 0.3, 0.52, hw * 0.45 + swing * 0.3, 0.95, bottom)
    rect(-hw * 0.5, 0.93, -hw * 0.02, 1.0, shoes)
    rect(hw * 0.02, 0.93, hw * 0.5, 1.0, shoes)
    rect(-hw, 0.17, hw, 0.56, top)  # torso
    if character.top and character.top.texture == "stripes":
        sec = _rgb(character.top.secondary_color)
        for y in np.arange(0.2, 0.54, 0.08):
            rect(-hw, y, hw, y + 0.03, sec)
    rect(-hw * 0.45, 0.02, hw * 0.45, 0.17, skin, ellipse=True)  # head
    if character.hair is not None:
        hair = _rgb(character.hair.color)
        back = facing < -0.3
        rect(-hw * 0.48, 0.0, hw * 0.48, 0.16 if back else 0.07, hair, ellipse=not back)
    for acc in character.accessories:
        if acc.kind == "backpack" and facing < 0.3:
            rect(-hw * 0.7, 0.2, hw * 0.7 * (-facing), 0.45, _rgb(acc.color))
    arr = np.asarray(canvas, float) / 255.0
    gain = np.array(image.postprocess.color_gain) * (0.7 + 0.1 * image.light.strength)
    arr = arr * gain + rng.normal(0, 0.02 + image.postprocess.noise_std, arr.shape)
    if facing < 0 and rng.random() < 0.5:
        arr = arr[:, ::-1]
    out = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8))
    jpg, png = io.BytesIO(), io.BytesIO()
    out.save(jpg, "JPEG", quality=90)
    mask.save(png, "PNG")
    return jpg.getvalue(), png.getvalue()


def make_procedural_dataset(root: str | Path, spec: Spec | None = None) -> Path:
    """Write a complete dataset in this project's format under `root`; returns `root`."""
    spec = spec or small_spec()
    root = Path(root)
    dsformat.create_dataset(root, spec.dataset.name, spec_to_dict(spec))
    splits = assign_splits(spec)
    for i in range(spec.dataset.characters):
        ch = expand_character(spec, i, splits[i])
        rendered = []
        for im in ch.images:
            jpg, png = draw_person(ch, im, spec.render.crop_height)
            rendered.append(dsformat.RenderedImage(k=im.k, image=jpg, mask=png, info={"procedural": True}))
        dsformat.write_character(root, ch, rendered)
    return root
