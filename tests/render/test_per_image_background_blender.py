"""`background.per_image` in real renders: each image is seen in its own room, the person and
its mask stay, and the rooms are freed."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = [pytest.mark.blender, pytest.mark.slow]
if importlib.util.find_spec("bpy") is None:
    pytest.skip("needs the bpy module", allow_module_level=True)

from synth_humans_addon.core import postprocess, presets, sampling  # noqa: E402
from synth_humans_addon.core.spec import Range  # noqa: E402


def _spec(per_image: bool):
    spec = presets.preset("tiny")
    spec.render.crop_height = 64
    spec.render.samples = 1
    spec.render.threads = 2
    spec.dataset.images_per_character = 3
    spec.background.kind = "fixed"  # one plain colour per room, and the same light in every image
    spec.background.colors = ["#202020", "#e0e0e0", "#c03030", "#3030c0", "#30a030", "#a0a030"]
    spec.background.structures = {}
    spec.lighting.kinds = {"area": 1.0}
    spec.lighting.strength = spec.lighting.world_strength = Range(1.0, 1.0)
    spec.postprocess.exposure = spec.postprocess.contrast = Range(1.0, 1.0)
    spec.postprocess.color_cast = Range(0.0, 0.0)
    spec.background.per_image = per_image
    spec.box.truncate_head = spec.box.truncate_feet = 0.0
    spec.postprocess.noise_std = spec.postprocess.blur_sigma = Range(0.0, 0.0)
    return spec


def _render(per_image: bool, tmp_path):
    import bpy

    from synth_humans_addon.blender.job import RenderSession

    spec = _spec(per_image)
    c = sampling.expand_character(spec, 2)
    with RenderSession(spec, workdir=tmp_path) as s:
        worlds = len(bpy.data.worlds)
        rendered = s.render_character(c)
        left = len(bpy.data.worlds) - worlds  # after the character is unloaded
    images = [postprocess.decode_image(r.image).astype(float) for r in rendered]
    masks = [postprocess.decode_image(r.mask) > 127 for r in rendered]
    return c, images, masks, left


def test_every_image_is_seen_in_its_own_room(tmp_path):
    c, images, masks, left = _render(True, tmp_path / "on")
    assert left == 0
    assert all(m.mean() > 0.05 for m in masks)  # the person is there, and only the person in the mask
    backgrounds = [im[~m].mean(0) for im, m in zip(images, masks)]
    spread_on = np.std(backgrounds, axis=0).mean()
    _, images_off, masks_off, _ = _render(False, tmp_path / "off")
    spread_off = np.std([im[~m].mean(0) for im, m in zip(images_off, masks_off)], axis=0).mean()
    # One room per character: the background's colour hardly changes between its images.
    assert spread_on > 3 * spread_off + 5, (spread_on, spread_off)
    assert len({im.background.colors[0] for im in c.images}) > 1  # the samples asked for other rooms
