"""Small procedural datasets in this project's format, for tests, demos and benchmarks.

Each character becomes the stand-in figure (`synth_humans_addon.core.standin`) in its sampled
colours — skin, hair, top, bottom, shoes, backpack — over its background colour, varied per
image by the sampled viewpoint (side views are narrower, back views hide the face and show
the backpack), pose phase (leg swing), light strength, scale, placement and noise. The
identities are learnable but not trivially so; no Blender is involved.
"""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
from PIL import Image

from synth_humans_addon.core import dataset as dsformat
from synth_humans_addon.core.sampling import CharacterSample, ImageSample, assign_splits, expand_character
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_to_dict
from synth_humans_addon.core.standin import draw_figure, figure_of


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


def draw_person(character: CharacterSample, image: ImageSample, height: int) -> tuple[bytes, bytes]:
    """(JPEG, PNG mask) of one procedural image of `character` seen as `image` describes: the
    stand-in figure (`core.standin`) placed with some jitter, then light, noise and a mirror."""
    rng = np.random.default_rng(image.seed)
    width = max(8, int(round(height * (0.36 + 0.08 * rng.random()))))
    scale = 0.88 + 0.1 * rng.random()
    fig = dataclasses.replace(figure_of(character, image, width, height), scale=scale,
                              top_offset=height * (1 - scale) * rng.random(),
                              centre_x=width / 2 + rng.normal(0, width * 0.04))
    canvas, mask = draw_figure(fig)
    arr = np.asarray(canvas, float) / 255.0
    gain = np.array(image.postprocess.color_gain) * (0.7 + 0.1 * image.light.strength)
    arr = arr * gain + rng.normal(0, 0.02 + image.postprocess.noise_std, arr.shape)
    if fig.facing < 0 and rng.random() < 0.5:
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
