"""bpy tests: building bodies, skinning, posing from every source, helpers, clean removal."""
import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synth_humans_addon.blender import body as B  # noqa: E402
from synth_humans_addon.blender.motion import pose as M  # noqa: E402
from synth_humans_addon.core.mpfb.phenotype import Phenotype  # noqa: E402

pytestmark = pytest.mark.blender


def _counts():
    return {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "materials", "armatures", "images", "actions")}


def _evaluated(obj):
    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    mesh = obj.evaluated_get(dg).data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3) @ np.asarray(obj.matrix_world)[:3, :3].T + np.asarray(obj.matrix_world)[:3, 3]


@pytest.fixture
def built(base_mesh):
    b = B.build_body(Phenotype(gender=0.4, age_years=30), "#c8a080")
    yield b
    B.remove_body(b)


def _write_bvh(path, joints_missing=()):
    """A small CMU-named T-pose skeleton (cm, Y up, facing +Z), 2 frames: rest, then left knee
    bent 60° and left arm lowered 80°."""
    def block(name, offset, children, indent):
        pad = "  " * indent
        if name in joints_missing:
            return ""
        s = f"{pad}JOINT {name}\n{pad}{{\n{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}\n"
        s += f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation\n"
        if children:
            for c in children:
                s += block(*c, indent + 1)
        else:
            s += f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0 5 0\n{pad}  }}\n"
        return s + f"{pad}}}\n"

    def leg(side, x):
        return (f"{side}UpLeg", (x, -5, 0), [(f"{side}Leg", (0, -42, 0), [(f"{side}Foot", (0, -42, 0),
                [(f"{side}ToeBase", (0, -5, 12), [])])])])

    def arm(side, x):
        return (f"{side}Shoulder", (x * 4, 13, 0), [(f"{side}Arm", (x * 14, 0, 0), [(f"{side}ForeArm", (x * 28, 0, 0),
                [(f"{side}Hand", (x * 25, 0, 0), [])])])])

    spine = ("LowerBack", (0, 8, 0), [("Spine", (0, 12, 0), [("Spine1", (0, 12, 0), [
        ("Neck", (0, 15, 0), [("Head", (0, 10, 0), [])]), arm("Left", 1), arm("Right", -1)])])])
    text = "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
    joints = [spine, leg("Left", 9), leg("Right", -9)]
    text += "".join(block(*j, 1) for j in joints) + "}\n"
    order = []

    def walk(j):
        if j[0] in joints_missing:
            return
        order.append(j[0])
        for c in j[2]:
            walk(c)
    for j in joints:
        walk(j)
    rest = ["0 95 0 0 0 0"] + ["0 0 0"] * len(order)
    moved = list(rest)
    moved[1 + order.index("LeftLeg")] = "0 60 0"  # Zrot Xrot Yrot: knee flexion about X
    if "LeftArm" in order:
        moved[1 + order.index("LeftArm")] = "-80 0 0"  # lower the left arm about Z
    text += f"MOTION\nFrames: 2\nFrame Time: 0.0333333\n{' '.join(rest)}\n{' '.join(moved)}\n"
    path.write_text(text)
    return path


def _dir(build, a, b):
    bpy.context.view_layer.update()
    P = build.armature.pose.bones
    v = np.asarray(P[b].head) - np.asarray(P[a].head)
    return v / np.linalg.norm(v)


def test_body_mesh_and_rig(built, base_mesh):
    body = built.body
    n_expected = len(np.unique(np.concatenate([base_mesh.faces[base_mesh.group_faces(g)] for g in B.BODY_GROUPS])))
    assert len(body.data.vertices) == n_expected
    assert len(body.data.polygons) == sum(len(base_mesh.group_faces(g)) for g in B.BODY_GROUPS)
    assert body.data.uv_layers and body.pass_index == 1 and built.armature.pass_index == 1
    idx = B.template_base_indices(body.data)
    np.testing.assert_array_equal(idx, built.body_base_indices)
    co = np.empty(len(idx) * 3, dtype=np.float32)
    body.data.vertices.foreach_get("co", co)
    np.testing.assert_allclose(co.reshape(-1, 3), built.verts[idx], atol=1e-5)
    assert not set(idx) & set(base_mesh.vertex_groups["helper-genital"])
    assert set(base_mesh.vertex_groups["body"]) <= set(idx)
    assert len(built.armature.data.bones) == len(built.rig.bones)
    assert {vg.name for vg in body.vertex_groups} <= set(built.rig.bone_names)
    assert body.modifiers[0].type == "ARMATURE" and body.modifiers[0].object == built.armature
    # skin material: sRGB hex converted to linear
    bsdf = next(n for n in built.skin_material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    from synth_humans_addon.core.palettes import hex_to_linear
    np.testing.assert_allclose(bsdf.inputs["Base Color"].default_value[:3], hex_to_linear("#c8a080"), atol=1e-6)
    for semantic in ("head", "neck", "chest", "spine", "hips", "left_hand", "right_foot", "left_upperarm"):
        assert built.bone(semantic) in built.armature.data.bones


def test_height_follows_the_height_macro(base_mesh):
    heights = []
    for h in (0.1, 0.5, 0.9):
        b = B.build_body(Phenotype(gender=1.0, height=h), "#a07050")
        co = _evaluated(b.body)
        heights.append(co[:, 2].max() - co[:, 2].min())
        assert co[:, 2].min() == pytest.approx(0.0, abs=2e-3)
        B.remove_body(b)
    assert heights[0] + 0.2 < heights[1] < heights[2] - 0.2


@pytest.mark.parametrize("source,kw", [
    ("procedural_walk", dict(phase=0.25)), ("walk", dict(phase=0.6)),
    ("standing", dict(variant=0)), ("standing", dict(variant=1)), ("standing", dict(variant=2)),
    ("standing", dict(variant=3)),
])
def test_every_pose_source_deforms_the_mesh(built, source, kw):
    M.reset_pose(built)
    rest = _evaluated(built.body)
    M.apply_pose(built, source, **kw)
    posed = _evaluated(built.body)
    assert np.abs(posed - rest).max() > 0.05
    assert posed[:, 2].min() == pytest.approx(0.0, abs=1e-4)  # grounded
    # arms are lowered from MakeHuman's A-pose in all of these
    up = _dir(built, "upperarm01.L", "lowerarm01.L")
    assert up[2] < -0.85
    # deterministic
    M.apply_pose(built, source, **kw)
    np.testing.assert_allclose(_evaluated(built.body), posed, atol=1e-6)


def test_walk_phases_alternate_legs(built):
    M.apply_pose(built, "procedural_walk", phase=0.25, stride=1.2)
    left_fwd = _dir(built, "upperleg01.L", "lowerleg01.L")[1]
    right_fwd = _dir(built, "upperleg01.R", "lowerleg01.R")[1]
    assert left_fwd < -0.2 < 0.2 < right_fwd  # left thigh forward (−Y), right back
    M.apply_pose(built, "procedural_walk", phase=0.75, stride=1.2)
    assert _dir(built, "upperleg01.L", "lowerleg01.L")[1] > 0.2
    M.apply_pose(built, "procedural_walk", phase=0.25, stride=0.0, arm_swing=0.0)
    assert abs(_dir(built, "upperleg01.L", "lowerleg01.L")[1]) < 0.15


def test_helper_object_follows_the_body(built, base_mesh):
    tights = B.make_helper_object(built, "helper-tights", "tights")
    assert tights.pass_index == 1 and tights.parent == built.armature
    assert set(B.template_base_indices(tights.data)) == set(base_mesh.vertex_groups["helper-tights"])
    rest_gap = _nearest_gap(_evaluated(tights), _evaluated(built.body))
    M.apply_pose(built, "procedural_walk", phase=0.3)
    posed_gap = _nearest_gap(_evaluated(tights), _evaluated(built.body))
    assert np.median(posed_gap) < 0.02 and np.percentile(posed_gap, 95) < max(0.05, 2 * np.percentile(rest_gap, 95))
    with pytest.raises(KeyError, match="helper-nope"):
        B.make_helper_object(built, "helper-nope", "x")


def _nearest_gap(points, cloud, sample=400):
    rng = np.random.default_rng(0)
    pts = points[rng.choice(len(points), size=min(sample, len(points)), replace=False)]
    cl = cloud[:: 3]
    d = np.sqrt(((pts[:, None, :] - cl[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return d


def test_datablocks_are_freed(base_mesh):
    warm = B.build_body(Phenotype(), "#c8a080")  # builds the per-process templates
    B.make_helper_object(warm, "helper-skirt", "s")
    B.remove_body(warm)
    before = _counts()
    for i in range(3):
        b = B.build_body(Phenotype(gender=i / 2, weight=0.3 + 0.2 * i), "#806040", detail_texture=(i == 1))
        B.make_helper_object(b, "helper-skirt", f"skirt{i}")
        M.apply_pose(b, "standing", variant=i)
        B.remove_body(b)
    assert _counts() == before


def test_bvh_round_trip(built, tmp_path):
    bvh = _write_bvh(tmp_path / "bend.bvh")
    before = _counts()
    M.apply_pose(built, "bvh", phase=0.0, bvh_file=str(bvh))
    thigh = _dir(built, "upperleg01.L", "lowerleg01.L")
    shin = _dir(built, "lowerleg01.L", "foot.L")
    straight = math.degrees(math.acos(np.clip(thigh @ shin, -1, 1)))
    arm = _dir(built, "upperarm01.L", "lowerarm01.L")
    assert abs(arm[2]) < 0.2 and arm[0] > 0.9  # T-pose frame: left arm horizontal, to +X
    M.apply_pose(built, "bvh", phase=0.999, bvh_file=str(bvh))
    thigh = _dir(built, "upperleg01.L", "lowerleg01.L")
    shin = _dir(built, "lowerleg01.L", "foot.L")
    bent = math.degrees(math.acos(np.clip(thigh @ shin, -1, 1)))
    assert bent - straight == pytest.approx(60.0, abs=6.0)
    assert shin[1] > 0.3  # the shin swings backwards (+Y), as a knee bends
    arm = _dir(built, "upperarm01.L", "lowerarm01.L")
    assert arm[2] < -0.9  # lowered by 80°
    right = _dir(built, "upperarm01.R", "lowerarm01.R")
    assert right[0] < -0.9  # untouched: still the T-pose
    assert _counts() == before  # the imported armature and its action are gone


def test_bvh_that_does_not_map_names_file_and_bones(built, tmp_path):
    bvh = _write_bvh(tmp_path / "nolegs.bvh", joints_missing=("RightUpLeg",))
    with pytest.raises(M.MotionError, match=r"nolegs\.bvh.*RightUpLeg"):
        M.apply_pose(built, "bvh", phase=0.0, bvh_file=str(bvh))
    with pytest.raises(M.MotionError, match="unknown pose source"):
        M.apply_pose(built, "dance", phase=0.0)
