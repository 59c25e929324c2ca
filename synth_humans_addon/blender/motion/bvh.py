"""The ``bvh`` source: a motion capture file retargeted onto the default rig.

The file is imported with Blender's importer, sampled at `phase` of its frame range and
retargeted role by role (its joint names: `core.mpfb.bones.BVH_NAMES`) with per-bone direction alignment, so a T-pose
BVH drives our A-pose rig correctly; root translation is dropped (the character stays on
the spot). Unmappable files raise `MotionError` naming the file and the missing bones.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
from mathutils import Matrix, Quaternion, Vector

from ...core.mpfb.bones import match_bvh_roles, missing_bvh_roles, rig_bone_name
from ..body import BodyBuild
from .bones import Y, Z, MotionError

def _import_bvh(path: Path) -> bpy.types.Object:
    before_objects = set(bpy.data.objects)
    before_actions = set(bpy.data.actions)
    before_arms = set(bpy.data.armatures)
    bpy.ops.import_anim.bvh(filepath=str(path), axis_forward="-Z", axis_up="Y", rotate_mode="NATIVE",
                            update_scene_fps=False, update_scene_duration=False, use_fps_scale=False)
    new = [o for o in bpy.data.objects if o not in before_objects and o.type == "ARMATURE"]
    if not new:
        raise MotionError(f"{path}: the BVH importer created no armature")
    src = new[0]
    src["_sh_new_actions"] = [a.name for a in bpy.data.actions if a not in before_actions]
    src["_sh_new_armatures"] = [a.name for a in bpy.data.armatures if a not in before_arms]
    return src


def _delete_imported(src: bpy.types.Object) -> None:
    actions = list(src.get("_sh_new_actions", []))
    arms = list(src.get("_sh_new_armatures", []))
    bpy.data.objects.remove(src, do_unlink=True)
    for n in actions:
        if n in bpy.data.actions:
            bpy.data.actions.remove(bpy.data.actions[n])
    for n in arms:
        if n in bpy.data.armatures:
            bpy.data.armatures.remove(bpy.data.armatures[n])


def bvh_pose(build: BodyBuild, path: Path, phase: float) -> None:
    if not build.rig_name.startswith("default"):
        raise MotionError(f"BVH retargeting targets the default rig family, not {build.rig_name!r}")
    path = Path(path)
    if not path.is_file():
        raise MotionError(f"BVH file not found: {path}")
    scene = bpy.context.scene
    frame_before = scene.frame_current
    src = _import_bvh(path)
    try:
        roles = match_bvh_roles([b.name for b in src.data.bones])
        wanted = missing_bvh_roles(roles)
        if wanted:
            raise MotionError(f"{path}: cannot retarget, missing bones {wanted} "
                              f"(file has {sorted(b.name for b in src.data.bones)})")
        mapping = {rig_bone_name(build.rig_name, role): joint for role, joint in roles.items()}
        action = src.animation_data.action if src.animation_data else None
        start, end = (action.frame_range if action else (1.0, 1.0))
        frame = start + (phase % 1.0) * (end - start)
        scene.frame_set(int(math.floor(frame)), subframe=frame - math.floor(frame))
        _retarget(build, src, mapping)
    finally:
        _delete_imported(src)
        scene.frame_set(frame_before)


def _rotation_between(a: Vector, b: Vector) -> Quaternion:
    return a.normalized().rotation_difference(b.normalized())


def _segment_direction(bone: bpy.types.Bone, mapping: dict[str, str]) -> Vector:
    """Rest direction of the limb segment a mapped bone drives: from its head to the head
    of the next mapped bone down an unbranched chain (our upper arm and thigh are two bones
    each, a source bone is one), else the bone's own axis."""
    child = bone
    while len(child.children) == 1:
        child = child.children[0]
        if child.name in mapping:
            return (child.head_local - bone.head_local).normalized()
    return (bone.matrix_local.to_3x3() @ Y).normalized()


def _retarget(build: BodyBuild, src: bpy.types.Object, mapping: dict[str, str]) -> None:
    """Copy each mapped source bone's world-space rotation change onto our bone.

    For a source bone with rest orientation S_r and posed S_p, and our bone with rest D_r,
    we set D_p = (S_p·S_r⁻¹)·C⁻¹·D_r where C turns the source rest direction onto the rest
    direction of the segment our bone drives (`_segment_direction`), so our segment points
    where the source bone points (T-pose sources drive A-pose targets). Unmapped bones keep
    their rest orientation relative to their parent.
    A yaw turn first aligns the source's left (its left minus right hip) with our +X.
    """
    sw = src.matrix_world.to_3x3()
    spose = src.pose.bones
    thigh = {s: mapping[rig_bone_name(build.rig_name, s + "_thigh")] for s in ("left", "right")}
    left = spose[thigh["left"]].bone.head_local - spose[thigh["right"]].bone.head_local
    left = sw @ left
    yaw = math.atan2(left.y, left.x)
    align = Quaternion(Z, -yaw)

    def src_rest(name):
        return align @ (sw @ spose[name].bone.matrix_local.to_3x3()).to_quaternion()

    def src_posed(name):
        return align @ (sw @ spose[name].matrix.to_3x3()).to_quaternion()

    def src_dir(name, posed: bool):
        pb = spose[name]
        m = pb.matrix if posed else pb.bone.matrix_local
        return align.to_matrix() @ sw @ m.to_3x3() @ Y

    arm = build.armature
    segment = {name: _segment_direction(arm.data.bones[name], mapping) for name in mapping if name in arm.data.bones}
    posed: dict[str, Matrix] = {}
    for pb in arm.pose.bones:  # parents first: Blender orders pose bones hierarchically
        rest = pb.bone.matrix_local
        if pb.parent is None:
            base = rest.copy()
        else:
            base = posed[pb.parent.name] @ (pb.parent.bone.matrix_local.inverted() @ rest)
        target = base
        parent_part = base
        src_name = mapping.get(pb.name)
        if src_name is not None:
            delta = src_posed(src_name) @ src_rest(src_name).inverted()
            if pb.parent is None:
                rot = delta @ rest.to_quaternion()
            else:
                c = _rotation_between(src_dir(src_name, False), segment[pb.name])
                rot = delta @ c.inverted() @ rest.to_quaternion()
            target = Matrix.Translation(base.translation) @ rot.to_matrix().to_4x4()
        basis = parent_part.inverted() @ target
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = basis.to_quaternion()
        posed[pb.name] = parent_part @ pb.rotation_quaternion.to_matrix().to_4x4()
