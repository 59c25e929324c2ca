"""The ``bvh`` source: a motion capture file retargeted onto the default rig.

The file is imported with Blender's importer, sampled at `phase` of its frame range and
retargeted by bone names (CMU/Mixamo naming) with per-bone direction alignment, so a T-pose
BVH drives our A-pose rig correctly; root translation is dropped (the character stays on
the spot). Unmappable files raise `MotionError` naming the file and the missing bones.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
from mathutils import Matrix, Quaternion, Vector

from ..body import BodyBuild
from .bones import Y, Z, MotionError

# Our bone (default rig) ← accepted BVH names (CMU first; Mixamo's prefix is stripped).
BVH_BONE_MAP: dict[str, tuple[str, ...]] = {
    "root": ("Hips", "hip", "pelvis"),
    "spine04": ("LowerBack", "Spine"), "spine03": ("Spine", "Spine1"), "spine01": ("Spine1", "Spine2", "Chest"),
    "neck01": ("Neck",), "head": ("Head",),
    "clavicle.L": ("LeftShoulder", "LeftCollar"), "upperarm01.L": ("LeftArm", "LeftUpArm"),
    "lowerarm01.L": ("LeftForeArm", "LeftLowArm"), "wrist.L": ("LeftHand",),
    "clavicle.R": ("RightShoulder", "RightCollar"), "upperarm01.R": ("RightArm", "RightUpArm"),
    "lowerarm01.R": ("RightForeArm", "RightLowArm"), "wrist.R": ("RightHand",),
    "upperleg01.L": ("LeftUpLeg", "LeftHip", "LeftThigh"), "lowerleg01.L": ("LeftLeg", "LeftKnee", "LeftShin"),
    "foot.L": ("LeftFoot", "LeftAnkle"), "toe1-1.L": ("LeftToeBase", "LeftToe"),
    "upperleg01.R": ("RightUpLeg", "RightHip", "RightThigh"), "lowerleg01.R": ("RightLeg", "RightKnee", "RightShin"),
    "foot.R": ("RightFoot", "RightAnkle"), "toe1-1.R": ("RightToeBase", "RightToe"),
}
BVH_REQUIRED = ("root", "upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R",
                "upperarm01.L", "lowerarm01.L", "upperarm01.R", "lowerarm01.R")


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


def _match_bvh_bones(src_names: list[str]) -> dict[str, str]:
    clean = {n.split(":")[-1]: n for n in src_names}
    lower = {k.lower(): v for k, v in clean.items()}
    out: dict[str, str] = {}
    used: set[str] = set()
    for ours, candidates in BVH_BONE_MAP.items():
        for c in candidates:
            hit = clean.get(c) or lower.get(c.lower())
            if hit and hit not in used:
                out[ours] = hit
                used.add(hit)
                break
    return out


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
        mapping = _match_bvh_bones([b.name for b in src.data.bones])
        missing = [b for b in BVH_REQUIRED if b not in mapping]
        if missing:
            wanted = [BVH_BONE_MAP[b][0] for b in missing]
            raise MotionError(f"{path}: cannot retarget, missing bones {wanted} "
                              f"(file has {sorted(b.name for b in src.data.bones)})")
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
    left = spose[mapping["upperleg01.L"]].bone.head_local - spose[mapping["upperleg01.R"]].bone.head_local
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
