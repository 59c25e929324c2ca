"""Pure-numpy tests of the MPFB2 asset parsing and macro-target blending (no bpy, no torch)."""
import numpy as np
import pytest

from synth_humans_addon.core.mpfb.assets import AssetError, to_blender_frame
from synth_humans_addon.core.mpfb.phenotype import (
    Phenotype, age_macro_to_years, age_years_to_macro, body_vertices, macro_component_weights, macro_weights,
)
from synth_humans_addon.core.mpfb.rig import joint_positions, load_rig
from synth_humans_addon.core.mpfb.targets import blend_targets, load_target, target_file
from synth_humans_addon.core.spec import ETHNICITIES


def test_base_mesh_topology(base_mesh):
    assert base_mesh.vertices.shape == (19158, 3)
    assert base_mesh.faces.shape == (18486, 4)
    assert base_mesh.face_uvs.shape == base_mesh.faces.shape
    assert base_mesh.face_uvs.max() < len(base_mesh.uvs)
    assert base_mesh.faces.min() == 0 and base_mesh.faces.max() == 19157
    # body group of the json = vertices used by the OBJ's body faces
    body_face_verts = np.unique(base_mesh.faces[base_mesh.group_faces("body")])
    assert np.array_equal(body_face_verts, base_mesh.vertex_groups["body"])
    # every joint cube has 8 vertices and matches its OBJ face group
    joints = [g for g in base_mesh.vertex_groups if g.startswith("joint-")]
    assert len(joints) > 50
    for g in joints:
        assert len(base_mesh.vertex_groups[g]) == 8
        assert set(np.unique(base_mesh.faces[base_mesh.face_groups[g]])) == set(base_mesh.vertex_groups[g])


def test_age_mapping_matches_makehuman():
    assert age_years_to_macro(1) == 0.0
    assert age_years_to_macro(25) == 0.5
    assert age_years_to_macro(90) == 1.0
    assert age_years_to_macro(13) == pytest.approx(0.25)
    for y in (1, 5, 11, 25, 40, 90):
        assert age_macro_to_years(age_years_to_macro(y)) == pytest.approx(y)


def test_component_weights_are_partitions_of_unity():
    rng = np.random.default_rng(0)
    for _ in range(50):
        eth = rng.random(3)
        ph = Phenotype(age_years=float(rng.uniform(1, 90)), gender=float(rng.random()), weight=float(rng.random()),
                       muscle=float(rng.random()), height=float(rng.random()), proportions=float(rng.random()),
                       ethnicity=dict(zip(ETHNICITIES, eth)))
        c = macro_component_weights(ph)
        for macro in ("gender", "age", "muscle", "weight", "race", "cupsize", "firmness"):
            assert sum(c[macro].values()) == pytest.approx(1.0), macro
            assert all(w >= 0 for w in c[macro].values())
        # height and proportions have a target on one side only
        assert len(c["height"]) <= 1 and len(c["proportions"]) <= 1


def test_neutral_phenotype_gives_zero_universal_offsets(base_mesh):
    """Female, 25 years, average muscle/weight, height and proportions 0.5: the universal,
    height and proportions targets all vanish; only the ethnic shape remains."""
    ph = Phenotype(gender=0.0, ethnicity={"caucasian": 1.0})
    w = macro_weights(ph)
    moving = {k: v for k, v in w.items() if load_target(k).indices.size}
    assert moving == {"macrodetails/caucasian-female-young": pytest.approx(1.0)}
    # the neutral universal target is there, with weight 1, and empty
    assert w["macrodetails/universal-female-young-averagemuscle-averageweight"] == pytest.approx(1.0)
    assert load_target("macrodetails/universal-female-young-averagemuscle-averageweight").indices.size == 0


def test_weights_sum_sensibly():
    ph = Phenotype(age_years=40, gender=0.3, weight=0.8, muscle=0.2, height=0.7, proportions=0.9,
                   ethnicity={"african": 0.2, "asian": 0.3, "caucasian": 0.5})
    w = macro_weights(ph)
    race = sum(v for k, v in w.items() if k.split("/")[1].split("-")[0] in ETHNICITIES)
    assert race == pytest.approx(1.0)
    universal = sum(v for k, v in w.items() if "/universal-" in k)
    assert universal == pytest.approx(1.0)
    height = sum(v for k, v in w.items() if "/height/" in k)
    # height weight 2·0.7−1 = 0.4 spread over the existing gender/age/muscle/weight combos
    assert height == pytest.approx(0.4)
    assert all(target_file(k).is_file() for k in w)


def test_extremes_pick_the_right_targets():
    old_fat_man = Phenotype(age_years=90, gender=1.0, weight=1.0, muscle=1.0, height=1.0, proportions=1.0,
                            ethnicity={"african": 1.0})
    w = macro_weights(old_fat_man)
    assert w == pytest.approx({
        "macrodetails/african-male-old": 1.0,
        "macrodetails/universal-male-old-maxmuscle-maxweight": 1.0,
        "macrodetails/height/male-old-maxmuscle-maxweight-maxheight": 1.0,
        "macrodetails/proportions/male-old-maxmuscle-maxweight-idealproportions": 1.0,
    })
    baby_girl = Phenotype(age_years=1, gender=0.0, weight=0.0, muscle=0.0, height=0.0, proportions=0.0,
                          ethnicity={"asian": 1.0})
    w = macro_weights(baby_girl)
    assert w["macrodetails/asian-female-baby"] == pytest.approx(1.0)
    assert w["macrodetails/universal-female-baby-minmuscle-minweight"] == pytest.approx(1.0)
    assert w["macrodetails/height/female-baby-minmuscle-minweight-minheight"] == pytest.approx(1.0)
    # there are no baby proportions targets: MakeHuman skips them, so do we
    assert not any("proportions" in k for k in w)


def test_height_macro_orders_body_heights(base_mesh):
    body = base_mesh.vertex_groups["body"]
    heights = [body_vertices(Phenotype(gender=1.0, height=h))[body, 2].max() for h in (0.0, 0.5, 1.0)]
    assert heights[0] < heights[1] < heights[2]
    assert 1.6 < heights[1] < 1.9  # an average young man
    female = body_vertices(Phenotype(gender=0.0))[body, 2].max()
    assert female < heights[1]


def test_body_vertices_frame_and_ground(base_mesh):
    v = body_vertices(Phenotype())
    body = base_mesh.vertex_groups["body"]
    assert v[body, 2].min() == pytest.approx(0.0, abs=1e-12)
    j = joint_positions(v)
    assert j["joint-head"][2] > j["joint-pelvis"][2] > j["joint-l-knee"][2] > j["joint-l-ankle"][2]
    # left is +x (MakeHuman's left side), the character faces −y: the nose is in front (−y)
    assert j["joint-l-knee"][0] > 0 > j["joint-r-knee"][0]
    nose_tip = v[body][np.argmin(v[body, 1])]
    assert nose_tip[2] > 1.0 or nose_tip[1] < j["joint-head"][1]
    ungrounded = body_vertices(Phenotype(), ground=False)
    np.testing.assert_allclose(ungrounded, to_blender_frame(blend_targets(macro_weights(Phenotype()))))


def test_rig_fits_morphed_body(base_mesh):
    small = body_vertices(Phenotype(gender=0.0, height=0.0))
    tall = body_vertices(Phenotype(gender=1.0, height=1.0))
    rs, rt = load_rig("default_no_toes", small), load_rig("default_no_toes", tall)
    assert rs.bone_names == rt.bone_names
    assert rt.bone("head").head[2] > rs.bone("head").head[2] + 0.5
    names = set(rs.bone_names)
    for b in rs.bones:  # parents come first
        assert b.parent is None or b.parent in names
    seen = set()
    for b in rs.bones:
        assert b.parent is None or b.parent in seen
        seen.add(b.name)
    # the knee bone starts at the knee cube
    np.testing.assert_allclose(rt.bone("lowerleg01.L").head, joint_positions(tall)["joint-l-knee"])
    # skin weights: the whole body is weighted, each vertex sums to 1
    total = np.zeros(len(base_mesh.vertices))
    for idx, w in rs.skin_weights.values():
        total[idx] += w
    body = base_mesh.vertex_groups["body"]
    np.testing.assert_allclose(total[body], 1.0, atol=1e-9)
    assert set(rs.skin_weights) <= names


def test_cmu_rig_and_unknown_rig():
    r = load_rig("cmu_mb")
    assert {"Hips", "LowerBack", "Spine", "LeftUpLeg", "RightFoot", "Head"} <= set(r.bone_names)
    with pytest.raises(AssetError, match="nope"):
        load_rig("nope")


def test_phenotype_validation_names_the_field():
    with pytest.raises(ValueError, match="height"):
        Phenotype(height=1.5)
    with pytest.raises(ValueError, match="age_years"):
        Phenotype(age_years=120)
    with pytest.raises(ValueError, match="martian"):
        Phenotype(ethnicity={"martian": 1.0})


def test_from_body_sample():
    class Body:  # the attributes of sampling.BodySample
        age_years, gender, weight, muscle, height, proportions = 33.0, 0.2, 0.6, 0.4, 0.55, 0.5
        ethnicity = {"asian": 1.0}
        skin_variation, skin_color = 0.0, "#aabbcc"
    ph = Phenotype.from_body_sample(Body())
    assert ph.age_years == 33.0 and ph.gender == 0.2 and ph.ethnicity == {"asian": 1.0}
