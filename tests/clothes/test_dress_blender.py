"""bpy tests: dressing real bodies, materials, following the pose, freeing everything."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synth_humans_addon.blender import body as B  # noqa: E402
from synth_humans_addon.blender import clothes as C  # noqa: E402
from synth_humans_addon.blender import materials as MAT  # noqa: E402
from synth_humans_addon.core import presets, sampling  # noqa: E402
from synth_humans_addon.core.mpfb.assets import AssetError, load_base_mesh  # noqa: E402
from synth_humans_addon.core.mpfb.phenotype import Phenotype  # noqa: E402
from synth_humans_addon.core.palettes import hex_to_linear  # noqa: E402
from synth_humans_addon.core.sampling import AccessorySample, GarmentSample, HairSample  # noqa: E402

pytestmark = pytest.mark.blender

try:
    load_base_mesh()
except AssetError as e:
    pytest.skip(str(e), allow_module_level=True)

DATA_KINDS = ("objects", "meshes", "materials", "armatures", "node_groups", "images")


def _counts():
    return {k: len(getattr(bpy.data, k)) for k in DATA_KINDS}


def _characters(n=4, start=0):
    spec = presets.preset("IV-realistic")
    spec.dataset.characters = max(spec.dataset.characters, start + n)
    return [sampling.expand_character(spec, i) for i in range(start, start + n)]


def _evaluated_world(obj):
    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    ev = obj.evaluated_get(dg)
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    m = np.asarray(ev.matrix_world)
    return co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]


def _garment(kind, texture="solid", color="#8a1c2b", seed=5):
    return GarmentSample(kind=kind, palette="custom", color=color, texture=texture, secondary_color="#e0d8c0",
                         texture_scale=1.0, texture_rotation_deg=20.0, seed=seed)


@pytest.fixture
def dressed():
    """A body dressed with every kind of part (top, bottom, shoes, hair, all accessories but one hat)."""
    ch = _characters(1)[0]
    ch.top, ch.bottom, ch.shoes = _garment("jacket"), _garment("trousers", "denim", "#24304a"), _garment("boots")
    ch.hair = HairSample("long", "dark", "#120e0a")
    ch.accessories = [AccessorySample(k, "dark", "#30343c") for k in ("backpack", "shoulder_bag", "cap", "glasses")]
    before = _counts()
    build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, name="t_dressed")
    outfit = C.dress(build, ch)
    yield ch, build, outfit, before
    C.remove_outfit(outfit)
    B.remove_body(build)


def test_every_sampled_part_exists_with_mask_index_and_colour():
    for ch in _characters(4, start=3):
        build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, name=f"t{ch.pid}")
        try:
            outfit = C.dress(build, ch)
            for role in ("top", "bottom", "shoes"):
                g = getattr(ch, role)
                if g is None:
                    assert role not in outfit.by_role
                    continue
                obj = outfit.by_role[role]
                assert obj.pass_index == 1 and obj.type == "MESH" and len(obj.data.polygons) > 20
                assert obj.data.materials[0].diffuse_color[:3] == pytest.approx(hex_to_linear(g.color), abs=1e-5)
                assert obj.modifiers["Armature"].object == build.armature
            if ch.hair is not None:
                hair = outfit.by_role["hair"]
                assert hair.pass_index == 1
                assert hair.data.materials[0].diffuse_color[:3] == pytest.approx(hex_to_linear(ch.hair.color), abs=1e-5)
            for a in ch.accessories:
                obj = outfit.by_role[a.kind]
                assert obj.pass_index == 1
                assert obj.data.materials[0].diffuse_color[:3] == pytest.approx(hex_to_linear(a.color), abs=1e-5)
                assert obj.parent == build.armature and obj.parent_type == "BONE"
            assert all(o.pass_index == 1 for o in outfit.objects)
        finally:
            C.remove_outfit(outfit)
            B.remove_body(build)


def test_remove_outfit_frees_every_datablock_and_restores_the_body(dressed):
    ch, build, outfit, _ = dressed
    body_mods = [m.name for m in build.body.modifiers]
    assert C.HIDDEN_SKIN_GROUP in body_mods  # the skin under the jacket and trousers is masked
    with_outfit = _counts()
    n_objects, n_materials = len(outfit.objects), len(outfit.materials)
    assert n_objects >= 10 and n_materials >= 5
    C.remove_outfit(outfit)
    after = _counts()
    assert after["objects"] == with_outfit["objects"] - n_objects
    assert after["materials"] == with_outfit["materials"] - n_materials
    assert after["meshes"] == with_outfit["meshes"] - n_objects  # every object had its own mesh
    assert C.HIDDEN_SKIN_GROUP not in [m.name for m in build.body.modifiers]
    assert C.HIDDEN_SKIN_GROUP not in build.body.vertex_groups


def test_many_characters_do_not_leak(dressed):
    _, _, _, before_fixture = dressed
    start = _counts()
    for ch in _characters(3, start=10):
        build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, name="t_leak")
        outfit = C.dress(build, ch)
        C.remove_outfit(outfit)
        B.remove_body(build)
    assert _counts() == start


def test_accessories_follow_their_bone_and_garments_follow_the_body(dressed):
    from synth_humans_addon.core.mpfb.bones import bone_name
    from synth_humans_addon.blender.motion import pose as motion

    ch, build, outfit, _ = dressed
    arm = build.armature
    cap = outfit.by_role["cap"]
    head = arm.pose.bones[bone_name(build, "head")]

    def relative():
        bpy.context.view_layer.update()
        bone_world = np.asarray(arm.matrix_world) @ np.asarray(head.matrix)
        return np.linalg.inv(bone_world) @ np.asarray(cap.matrix_world), np.asarray(cap.matrix_world)

    rest_rel, rest_world = relative()
    trousers_rest = _evaluated_world(outfit.by_role["bottom"])
    motion.apply_pose(build, "standing", 0.0, variant=3)  # head down, forearms forward
    posed_rel, posed_world = relative()
    assert not np.allclose(rest_world, posed_world, atol=1e-3)  # the cap moved …
    assert np.allclose(rest_rel, posed_rel, atol=1e-4)  # … rigidly with the head bone
    motion.apply_pose(build, "procedural_walk", 0.25)
    trousers = _evaluated_world(outfit.by_role["bottom"])
    assert np.abs(trousers - trousers_rest).max() > 0.05  # the legs moved the trousers
    # They stay on the legs: every trouser vertex is within 3 cm of the posed skin (the skin
    # mask acts in renders only, so the evaluated body here is whole).
    skin = _evaluated_world(build.body)
    sample = trousers[::7]
    d = np.sqrt(((sample[:, None, :] - skin[None]) ** 2).sum(-1)).min(axis=1)
    assert np.percentile(d, 99) < 0.03, np.percentile(d, 99)


def test_fully_dressed_person_is_grounded_by_the_feet(dressed):
    """The skin mask must not change what the viewport depsgraph sees: `motion.ground` puts
    the lowest evaluated skin vertex on the floor, and with jacket, trousers and boots the
    only visible skin left would be the hands."""
    from synth_humans_addon.blender.motion import pose as motion

    ch, build, outfit, _ = dressed
    mod = build.body.modifiers[C.HIDDEN_SKIN_GROUP]
    assert mod.show_render and not mod.show_viewport
    motion.apply_pose(build, "procedural_walk", 0.3)
    boots = _evaluated_world(outfit.by_role["shoes"])
    assert abs(boots[:, 2].min()) < 0.03, boots[:, 2].min()


def test_dress_failure_leaves_nothing_behind():
    ch = _characters(1, start=20)[0]
    ch.accessories = [AccessorySample("umbrella", "dark", "#000000")]
    build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, name="t_fail")
    try:
        before = _counts()
        with pytest.raises(ValueError, match="umbrella"):
            C.dress(build, ch)
        assert _counts() == before
        assert C.HIDDEN_SKIN_GROUP not in [m.name for m in build.body.modifiers]
    finally:
        B.remove_body(build)


def test_bad_colours_and_textures_are_named():
    with pytest.raises(ValueError, match="colour"):
        MAT.garment_material(_garment("tshirt", color="navy"))
    with pytest.raises(ValueError, match="colour"):
        MAT.hair_material("")  # e.g. from an empty palette
    with pytest.raises(ValueError, match="garment.texture"):
        MAT.garment_material(_garment("tshirt", texture="paisley"))
    bad_scale = _garment("tshirt", texture="stripes")
    bad_scale.texture_scale = 0.0
    with pytest.raises(ValueError, match="texture_scale"):
        MAT.garment_material(bad_scale)


def test_empty_custom_palette_is_refused_before_dressing():
    from synth_humans_addon.core import palettes

    with pytest.raises(ValueError, match="empty"):
        palettes.palette_colors("mine", {"mine": []})


def test_dressing_is_deterministic():
    """The same sample dresses to the same meshes and materials, vertex for vertex."""
    ch = _characters(1, start=7)[0]

    def snapshot():
        build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, name="t_det")
        outfit = C.dress(build, ch)
        shot = {}
        for obj in outfit.objects:
            co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
            obj.data.vertices.foreach_get("co", co)
            mat = obj.data.materials[0]
            values = sorted((n.name, i, tuple(np.ravel(s.default_value)) if hasattr(s.default_value, "__len__")
                             else s.default_value)
                            for n in mat.node_tree.nodes for i, s in enumerate(n.inputs)
                            if hasattr(s, "default_value"))
            shot[obj.name] = (co.tobytes(), sorted(g.name for g in obj.vertex_groups), values)
        C.remove_outfit(outfit)
        B.remove_body(build)
        return shot

    first, second = snapshot(), snapshot()
    assert first.keys() == second.keys() and len(first) >= 3
    for name in first:
        assert first[name] == second[name], name
