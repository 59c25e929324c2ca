"""`background.per_image`: a room per image instead of per character (samples and spec files;
the render side is in tests/render/test_per_image_background_blender.py)."""
from __future__ import annotations

import dataclasses

import pytest

from synth_humans_addon.core import presets, sampling
from synth_humans_addon.core.spec import SpecError
from synth_humans_addon.core.spec_io import load_spec, save_spec, spec_fingerprint, spec_from_dict, spec_to_dict


def _spec(per_image: bool):
    spec = presets.preset("IV")
    spec.dataset.characters, spec.dataset.test_characters, spec.dataset.validation_characters = 20, 4, 2
    spec.background.per_image = per_image
    return spec


def test_each_image_gets_its_own_room_and_nothing_else_changes():
    off, on = _spec(False), _spec(True)
    for index in range(5):
        a, b = sampling.expand_character(off, index), sampling.expand_character(on, index)
        assert all(im.background is None for im in a.images)
        rooms = [im.background for im in b.images]
        assert all(isinstance(r, sampling.BackgroundSample) for r in rooms)
        assert len({(r.source, round(r.rotation_deg, 6)) for r in rooms}) == len(rooms)  # a new room each
        # Every other draw is the same as without it: the person, its camera, light and box.
        assert dataclasses.replace(b, images=[dataclasses.replace(im, background=None) for im in b.images]) == a
    # The rooms are drawn from the spec's tables, structures included.
    rooms = [im.background for i in range(20) for im in sampling.expand_character(on, i).images]
    assert {r.kind for r in rooms} == {"cubemap"} and any(r.structures for r in rooms)
    # `validate`'s summary counts rooms per image then.
    characters = [sampling.expand_character(on, i) for i in range(20)]
    assert sum(sampling.summarize(on, characters)["backgrounds"].values()) == len(rooms)


def test_samples_round_trip_and_reproduce():
    spec = _spec(True)
    c = sampling.expand_character(spec, 3)
    assert sampling.CharacterSample.from_dict(c.to_dict()) == c
    assert sampling.expand_character(spec, 3) == c


def test_the_field_is_read_written_and_checked_and_off_keeps_old_fingerprints(tmp_path):
    on = _spec(True)
    save_spec(on, tmp_path / "s.toml")
    assert "per_image = true" in (tmp_path / "s.toml").read_text()
    assert load_spec(tmp_path / "s.toml").background.per_image is True
    d = spec_to_dict(_spec(False))
    before = {**d, "background": {k: v for k, v in d["background"].items() if k != "per_image"}}
    assert spec_fingerprint(d) == spec_fingerprint(before)  # job tables of older runs still resume
    assert spec_fingerprint(spec_to_dict(on)) != spec_fingerprint(d)
    with pytest.raises(SpecError, match=r"background.per_image: expected true or false, got 1"):
        spec_from_dict({**d, "background": {**d["background"], "per_image": 1}})
