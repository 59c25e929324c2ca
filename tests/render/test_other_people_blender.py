"""Other people in real renders: seen in the image, hiding part of the person, never in its mask."""
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
    spec.render.crop_height = 96
    spec.render.samples = 2
    spec.render.threads = 2
    spec.background.kind = "fixed"
    spec.background.colors = ["#808080"]
    spec.background.structures = {}
    spec.box.truncate_head = spec.box.truncate_feet = 0.0
    spec.postprocess.noise_std = spec.postprocess.blur_sigma = Range(0.0, 0.0)
    spec.postprocess.downscale = Range(1.0, 1.0)
    spec.background.passers_by, spec.background.occluders = 1.0, 1.0
    return spec


def _with_others_at(c, occluder_y: float):
    """The character with two of its pool's people in its first image: an occluder 1.2 m in
    front, `occluder_y` to the side, and a passer-by 1.5 m behind, slightly off the line of sight."""
    placed = []
    for o, (role, x, y) in zip(c.others, (("occluder", -1.2, occluder_y), ("passer_by", 1.5, 0.25))):
        placements = [None] * len(c.images)
        placements[0] = sampling.PersonPlacement(role, x, y, 90.0)
        placed.append(dataclasses.replace(o, placements=placements))
    return dataclasses.replace(c, others=placed)


@pytest.mark.parametrize("mask_source", ["cryptomatte", "index"])
def test_an_occluder_hides_part_of_the_person_and_no_other_person_enters_the_mask(tmp_path, mask_source):
    from synth_humans_addon.blender import scene as scene_mod
    from synth_humans_addon.blender.job import RenderSession

    spec = _spec()
    c = sampling.expand_character(spec, 0)
    assert len(c.others) >= 2
    import bpy

    with RenderSession(spec, workdir=tmp_path, mask_source=mask_source) as s:
        out, counts, crowd = {}, [], _with_others_at(c, 0.2)
        for name, character in (("alone", dataclasses.replace(c, others=[])), ("crowd", crowd), ("again", crowd)):
            s.load_character(character)
            r = s.render_image(character.images[0])
            out[name] = (postprocess.decode_image(r.image).astype(float), postprocess.decode_image(r.mask).astype(float))
            second = s.render_image(character.images[1])  # no one else is placed in image 1
            out[name + "-1"] = postprocess.decode_image(second.image).astype(float)
            assert s.people.placed() == []  # every card parked once the character is gone
            s.unload_character()
            counts.append(scene_mod.datablock_counts())
        # The session keeps the two cards it made and makes none for the next character that meets them.
        assert sorted(s.people.cards) == sorted(o.pool_index for o in crowd.others)
        assert counts[2] == counts[1]
        assert np.array_equal(out["again"][1], out["crowd"][1])
    assert not [o for o in bpy.data.objects if o.name.startswith(("other", "sh_card"))]  # freed with the session
    assert not [sc for sc in bpy.data.scenes if sc.name.startswith("sh_card_studio")]
    # Members absent from an image are out of the scene: image 1 renders as if alone.
    assert np.abs(out["crowd-1"] - out["alone-1"]).mean() < 0.5
    (rgb0, mask0), (rgb1, mask1) = out["alone"], out["crowd"]
    assert mask1.shape == mask0.shape
    # No one else's pixels become the person's: the mask only loses what the occluder hides.
    assert np.mean(mask1 - mask0 > 64) < 0.005
    hidden = np.mean(mask0 - mask1 > 128)
    assert hidden > 0.02, hidden  # part of the person is behind the occluder…
    assert mask1.mean() > 0.4 * mask0.mean()  # …but not most of it
    assert np.abs(rgb1 - rgb0).mean() > 3.0  # and the others are seen in the image
