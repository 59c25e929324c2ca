"""Deterministic expansion and uniform sampling on the hemisphere segment."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from synth_humans_addon.core import geometry, presets, sampling
from synth_humans_addon.core.spec import Range


def small_spec(**kw):
    s = presets.preset("IV-realistic")
    s.dataset.characters = kw.get("characters", 60)
    s.dataset.images_per_character = kw.get("images", 6)
    s.dataset.test_characters = kw.get("test", 10)
    s.dataset.validation_characters = kw.get("val", 10)
    return s


def test_expansion_is_deterministic_and_order_independent():
    spec = small_spec()
    forward = [sampling.expand_character(spec, i).to_dict() for i in range(spec.dataset.characters)]
    backward = [sampling.expand_character(spec, i).to_dict() for i in reversed(range(spec.dataset.characters))]
    assert forward == list(reversed(backward))
    assert forward == [c.to_dict() for c in sampling.expand_dataset(spec)]


def test_samples_round_trip_through_json_exactly():
    spec = small_spec()
    for c in sampling.expand_dataset(spec):
        again = sampling.CharacterSample.from_dict(json.loads(json.dumps(c.to_dict())))
        assert again == c


def test_seed_changes_samples_and_more_images_keep_existing_ones():
    spec = small_spec()
    a = sampling.expand_character(spec, 3)
    spec2 = small_spec()
    spec2.dataset.seed += 1
    assert sampling.expand_character(spec2, 3).body != a.body
    spec3 = small_spec(images=9)
    b = sampling.expand_character(spec3, 3)
    assert b.body == a.body and b.top == a.top
    assert [im.camera for im in b.images[:6]] == [im.camera for im in a.images]


def test_splits_have_the_requested_sizes_and_no_overlap():
    spec = small_spec(characters=50, test=7, val=5)
    chars = list(sampling.expand_dataset(spec))
    splits = [c.split for c in chars]
    assert splits.count("test") == 7 and splits.count("validation") == 5 and splits.count("train") == 38
    for c in chars:
        subsets = {im.subset for im in c.images}
        if c.split == "train":
            assert subsets == {"bounding_box_train"}
        elif c.split == "validation":
            assert subsets == {"validation"}
        else:
            assert subsets <= {"query", "bounding_box_test"} and "query" in subsets and "bounding_box_test" in subsets
            # one query per camera id
            q = [im.camera_id for im in c.images if im.subset == "query"]
            assert len(q) == len(set(q))


def test_attributes_stay_within_the_spec_ranges():
    spec = small_spec(characters=200)
    spec.character.age_years = Range(20, 30, "normal")
    spec.character.weight = Range(0.4, 0.45)
    for c in sampling.expand_dataset(spec):
        assert 20 <= c.body.age_years <= 30
        assert 0.4 <= c.body.weight <= 0.45
        assert abs(sum(c.body.ethnicity.values()) - 1) < 1e-9
        for im in c.images:
            assert spec.camera.theta1_deg - 1e-9 <= im.camera.theta_deg <= spec.camera.theta2_deg + 1e-9
            assert 1 <= im.camera_id <= spec.dataset.camera_id_bins


def test_male_fraction_and_garment_probabilities_are_respected():
    spec = small_spec(characters=2000, images=1, test=0, val=0)
    spec.character.male_fraction = 0.3
    spec.clothing.tops = {"tshirt": 0.5}  # half the people wear no top in this (odd) spec
    chars = list(sampling.expand_dataset(spec))
    males = np.mean([c.body.gender > 0.5 for c in chars])
    no_top = np.mean([c.top is None for c in chars])
    # binomial standard error with n = 2000 is ~0.011: 4 sigma bounds
    assert abs(males - 0.3) < 0.045
    assert abs(no_top - 0.5) < 0.045


def test_every_segment_sample_lies_on_the_segment():
    rng = np.random.default_rng(0)
    R, t1, t2 = 7.5, 30.0, 75.0
    for _ in range(2000):
        az, th = geometry.sample_segment_direction(rng.random(), rng.random(), t1, t2)
        p = geometry.spherical_to_cartesian(az, th, R)
        assert abs(np.linalg.norm(p) - R) < 1e-9
        polar = math.degrees(math.acos(p[2] / R))
        assert t1 - 1e-9 <= polar <= t2 + 1e-9
        assert 0 <= az < 360


def test_segment_sampling_is_uniform_in_area():
    """Equal-area bands (equal height by Archimedes) must each get 1/K of the samples: chi-square test."""
    rng = np.random.default_rng(1)
    t1, t2, n, k = 20.0, 80.0, 40000, 10
    z1, z2 = math.cos(math.radians(t1)), math.cos(math.radians(t2))
    heights, azimuths = [], []
    for _ in range(n):
        az, th = geometry.sample_segment_direction(rng.random(), rng.random(), t1, t2)
        heights.append(math.cos(math.radians(th)))
        azimuths.append(az)
    band = np.clip(((np.array(heights) - z2) / (z1 - z2) * k).astype(int), 0, k - 1)
    counts = np.bincount(band, minlength=k)
    chi2 = float(((counts - n / k) ** 2 / (n / k)).sum())
    assert chi2 < 27.9, (counts, chi2)  # p = 0.001 for 9 degrees of freedom
    # equal-angle bands are NOT equal-area: the upper (smaller-θ) angle band must get fewer samples
    th = np.degrees(np.arccos(heights))
    upper = np.mean(th < (t1 + t2) / 2)
    area_upper = (z1 - math.cos(math.radians((t1 + t2) / 2))) / (z1 - z2)
    assert abs(upper - area_upper) < 0.01 and area_upper < 0.45
    # azimuth uniform too
    az_counts = np.bincount((np.array(azimuths) / 36).astype(int), minlength=10)
    assert float(((az_counts - n / 10) ** 2 / (n / 10)).sum()) < 27.9


def test_sampled_cameras_of_a_dataset_are_uniform_on_its_segment():
    spec = small_spec(characters=400, images=10, test=0, val=0)
    z1 = math.cos(math.radians(spec.camera.theta1_deg))
    z2 = math.cos(math.radians(spec.camera.theta2_deg))
    zs = np.array([math.cos(math.radians(im.camera.theta_deg)) for c in sampling.expand_dataset(spec) for im in c.images])
    counts = np.bincount(np.clip(((zs - z2) / (z1 - z2) * 8).astype(int), 0, 7), minlength=8)
    n = len(zs)
    assert float(((counts - n / 8) ** 2 / (n / 8)).sum()) < 24.3  # p = 0.001, 7 dof


def test_camera_ids_follow_the_viewpoint():
    assert geometry.camera_id(0, 60, "azimuth", 4, 40, 80) == 1  # front
    assert geometry.camera_id(90, 60, "azimuth", 4, 40, 80) == 2
    assert geometry.camera_id(180, 60, "azimuth", 4, 40, 80) == 3
    assert geometry.camera_id(359, 60, "azimuth", 4, 40, 80) == 1
    assert geometry.camera_id(10, 41, "elevation", 2, 40, 80) == 1
    assert geometry.camera_id(10, 79, "elevation", 2, 40, 80) == 2
    assert geometry.camera_id(180, 79, "azimuth_elevation", 4, 40, 80) == 4


def test_iv_classic_keeps_the_study_draws_and_realistic_roles_use_their_own_tables():
    """IV-classic has no per-role tables and a neutral box: its samples are the study's from
    before issue 14. IV-realistic draws tops and bottoms from the published colour frequencies."""
    classic = presets.preset("IV-classic")
    assert classic.clothing.top_palettes == classic.clothing.bottom_palettes == {}
    c = sampling.expand_character(classic, 5)
    assert all(im.box == sampling.BoxSample() for im in c.images)
    iv = presets.preset("IV-realistic")
    iv.dataset.characters = 600
    chars = [sampling.expand_character(iv, i) for i in range(600)]
    tops = [c.top for c in chars if c.top]
    bottoms = [c.bottom for c in chars if c.bottom]
    assert {t.palette for t in tops} <= set(iv.clothing.top_palettes)
    assert {b.palette for b in bottoms} <= set(iv.clothing.bottom_palettes) | {"denim"}
    black_tops = sum(t.palette == "black" for t in tops) / len(tops)
    assert black_tops == pytest.approx(iv.clothing.top_palettes["black"], abs=0.06)
    plain = sum(b.texture in ("solid", "noise", "denim") for b in bottoms) / len(bottoms)
    patterned_tops = sum(t.texture not in ("solid", "noise") for t in tops) / len(tops)
    assert plain > 0.9 and patterned_tops > 0.2
    boxes = [im.box for c in chars[:100] for im in c.images]
    assert 0.05 < np.mean([b.cut_bottom > 0 for b in boxes]) < 0.16
    assert all(0.72 <= b.aspect <= 0.92 for b in boxes)


def test_structures_are_sampled_behind_the_person_and_placed_around_each_camera():
    from synth_humans_addon.shapes import structures as st

    iv = presets.preset("IV-realistic")
    iv.dataset.characters = 400
    found = [s for i in range(400) for s in sampling.expand_character(iv, i).background.structures]
    kinds = {k: sum(s.kind == k for s in found) / 400 for k in iv.background.structures}
    for k, expected in iv.background.structures.items():
        assert kinds[k] == pytest.approx(expected, abs=0.08)
    walls = [s for s in found if s.kind == "wall"]
    assert np.mean([s.x > 0 for s in walls]) > 0.95  # behind the person as the camera sees it
    assert sampling.expand_character(presets.preset("IV-classic"), 3).background.structures == []
    wall = walls[0]
    for eye in (np.array([6.0, 0.0, 3.0]), np.array([0.0, -6.0, 3.0]), np.array([-4.0, 4.0, 3.0])):
        w = st.place(wall, eye)
        # Same distance from the person, on the far side from the camera.
        assert math.hypot(w.x, w.y) == pytest.approx(math.hypot(wall.x, wall.y))
        assert np.dot([w.x, w.y], eye[:2]) < 0
    # A wall across the line of sight blocks it; one beside it does not.
    across = sampling.StructureSample("wall", 0.0, 0.0, 0.0, 4.0, 3.0, 0.2, "#808080")
    assert st.blocks_view(dataclasses.replace(across, x=0.0, y=-2.0), np.array([0.0, -6.0, 2.0]), np.array([0, 0, 1.0]))
    assert not st.blocks_view(dataclasses.replace(across, x=0.0, y=2.0), np.array([0.0, -6.0, 2.0]), np.array([0, 0, 1.0]))
    verts, faces = st.structure_mesh(dataclasses.replace(across, kind="railing"))
    assert faces.shape == (4 * 6, 4) and verts[:, 2].max() == pytest.approx(3.0)


def test_stairs_rise_step_by_step_and_a_doorway_leaves_an_opening():
    from synth_humans_addon.shapes import structures as st

    stairs = sampling.StructureSample("stairs", 0.0, 0.0, 0.0, 2.0, 1.02, 2.4, "#808080")
    boxes = st.structure_boxes(stairs)
    tops = [float(c[2] + z[2] / 2) for c, z in boxes]
    fronts = [float(c[1] - z[1] / 2) for c, z in boxes]
    assert len(boxes) == 6 and tops == pytest.approx([0.17 * (i + 1) for i in range(6)])  # 17-cm rises
    assert fronts == sorted(fronts) and fronts[0] == pytest.approx(-1.2)  # each step further back
    verts, _ = st.structure_mesh(stairs)
    assert verts[:, 2].min() == pytest.approx(0.0) and verts[:, 2].max() == pytest.approx(1.02)
    assert np.abs(verts[:, 1]).max() == pytest.approx(1.2) and np.abs(verts[:, 0]).max() == pytest.approx(1.0)

    door = sampling.StructureSample("doorway", 0.0, 0.0, 0.0, 3.0, 3.0, 0.25, "#808080")

    def solid(p):
        return any(np.all(np.abs(np.asarray(p) - c) <= z / 2) for c, z in st.structure_boxes(door))

    assert not solid([0.0, 0.0, 1.0])  # one walks through the opening
    assert solid([0.0, 0.0, 2.5]) and solid([-1.0, 0.0, 1.0]) and solid([1.0, 0.0, 1.0])  # lintel, jambs
    # The line of sight through the doorway's box counts as blocked: hidden like a wall in front.
    assert st.blocks_view(dataclasses.replace(door, y=-2.0), np.array([0.0, -6.0, 2.0]), np.array([0, 0, 1.0]))


def test_stairs_and_doorways_are_sampled_like_the_other_structures():
    spec = presets.preset("IV-realistic")
    spec.background.structures = {"stairs": 1.0, "doorway": 1.0}
    found = sampling.expand_character(spec, 5).background.structures
    assert sorted(s.kind for s in found) == ["doorway", "stairs"]
    door = next(s for s in found if s.kind == "doorway")
    assert 2.2 <= door.width <= 4.0 and 2.5 <= door.height <= 3.3
    from synth_humans_addon.core.spec_validation import validate_spec

    assert not [f for f, _ in validate_spec(spec, check_files=False) if f.startswith("background.structures")]
    spec.background.structures = {"escalator": 1.0}
    assert ("background.structures.escalator", "unknown name (known: wall, pillar, railing, bench, stairs, "
            "doorway)") in validate_spec(spec, check_files=False)


def test_other_people_come_from_their_own_stream_and_a_pool_stand_behind_or_beside_and_round_trip():
    from synth_humans_addon.core.framing import view_to_world

    plain = small_spec(characters=300, images=5)
    crowd = small_spec(characters=300, images=5)
    crowd.background.passers_by, crowd.background.occluders = 1.0, 0.5
    assert sampling.expand_character(plain, 4).others == []
    chars = [sampling.expand_character(crowd, i) for i in range(300)]
    for i in (0, 7, 123):  # the person itself is drawn exactly as without others
        with_others = chars[i].to_dict()
        assert with_others.pop("others")
        assert with_others == {k: v for k, v in sampling.expand_character(plain, i).to_dict().items() if k != "others"}
    per_image = [[p for o in c.others for p in [o.placements[k]] if p] for c in chars for k in range(5)]
    assert all(sum(p.role == "passer_by" for p in ps) == 1 for ps in per_image)  # the whole part always
    occluded = np.mean([any(p.role == "occluder" for p in ps) for ps in per_image])
    assert occluded == pytest.approx(0.5, abs=0.05)  # the fraction with that probability
    lo, hi = crowd.background.passer_by_distance.low, crowd.background.passer_by_distance.high
    for ps in per_image:
        for p in ps:
            if p.role == "passer_by":
                assert lo <= p.x <= hi  # behind the person as the camera sees it
            else:  # nearer the camera, to one side: part of the person hidden, never its middle
                assert -2.0 <= p.x <= -0.6 and 0.35 <= abs(p.y) <= 0.7
    # Members come from the dataset's pool: the same index is the same person everywhere,
    # and one identity's images meet different people (no companion cue).
    seen = {}
    for c in chars:
        for o in c.others:
            assert len(o.placements) == 5 and o.pid == c.pid and o.pose.source != "bvh"
            assert 0 <= o.pool_index < crowd.background.people_pool
            looks = (o.body, o.top, o.bottom, o.hair, o.pose, o.pose_phase)
            assert seen.setdefault(o.pool_index, looks) == looks
    assert len(seen) == crowd.background.people_pool
    assert np.mean([len(c.others) for c in chars]) > 4  # 7.5 places over 5 images, mostly distinct people
    for c in chars[:30]:
        assert sampling.CharacterSample.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    # The view frame's +x runs from the camera through the person (at the origin).
    assert view_to_world(2.0, 0.5, 10.0, np.array([-6.0, 0.0, 3.0])) == pytest.approx((2.0, 0.5, 10.0))
    assert view_to_world(2.0, 0.0, 0.0, np.array([0.0, -6.0, 3.0])) == pytest.approx((0.0, 2.0, 90.0))
