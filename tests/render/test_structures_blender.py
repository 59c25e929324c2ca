"""Structures around the person in real renders: visible, solid, never part of the mask."""
from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

pytestmark = [pytest.mark.blender, pytest.mark.slow]
if importlib.util.find_spec("bpy") is None:
    pytest.skip("needs the bpy module", allow_module_level=True)

from synth_humans_addon.core import postprocess, presets, sampling  # noqa: E402
from synth_humans_addon.core.spec import Range  # noqa: E402


def _spec():
    spec = presets.preset("tiny")
    spec.render.crop_height = 80
    spec.render.samples = 2
    spec.render.threads = 2
    spec.background.kind = "fixed"
    spec.background.colors = ["#808080"]
    spec.box.truncate_head = spec.box.truncate_feet = 0.0
    spec.postprocess.noise_std = spec.postprocess.blur_sigma = Range(0.0, 0.0)
    spec.postprocess.downscale = Range(1.0, 1.0)
    return spec


def _render(structures, tmp_path):
    from synth_humans_addon.blender.job import RenderSession

    spec = _spec()
    c = sampling.expand_character(spec, 0)
    c.background.structures = structures
    with RenderSession(spec, workdir=tmp_path) as s:
        s.load_character(c)
        r = s.render_image(c.images[0])
        hidden = [o.hide_render for o in s.loaded.room.structures]
    return (postprocess.decode_image(r.image).astype(float), postprocess.decode_image(r.mask).astype(float),
            hidden, r.info)


def _wall(x):
    return sampling.StructureSample(kind="wall", x=x, y=0.0, rotation_deg=90.0, width=5.0, height=3.0, depth=0.25,
                                    color="#202020")


def test_wall_behind_shows_in_the_image_not_in_the_mask_and_a_wall_in_front_is_hidden(tmp_path):
    plain, mask, _, _ = _render([], tmp_path / "a")
    behind, mask_behind, hidden, _ = _render([_wall(1.5)], tmp_path / "b")
    assert hidden == [False]
    assert mask_behind.shape == mask.shape
    # The mask is the person only: the same with and without the dark wall behind it.
    assert np.abs(mask_behind - mask).mean() < 2.0
    background = mask < 20
    assert behind[background].mean() < plain[background].mean() - 20  # the dark wall is seen around the person
    # A wall between the camera and the person is hidden for that image: the person stays visible.
    front, mask_front, hidden_front, _ = _render([_wall(-2.0)], tmp_path / "c")
    assert hidden_front == [True]
    assert np.abs(mask_front - mask).mean() < 2.0
