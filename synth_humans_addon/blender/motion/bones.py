"""Shared pose helpers: bones by role on the default rig family, rotations about armature axes.

Frame conventions: the character faces −Y, +X is its left, Z up.
"""
from __future__ import annotations

import math

import bpy
from mathutils import Quaternion, Vector

from ..body import BodyBuild

X, Y, Z = Vector((1, 0, 0)), Vector((0, 1, 0)), Vector((0, 0, 1))


class MotionError(ValueError):
    """A pose source or motion file that cannot drive the rig."""


_DEFAULT_RIG_BONES = {
    "root": "root", "spine_low": "spine04", "spine_mid": "spine03", "chest": "spine01", "neck": "neck01",
    "head": "head", "shoulder.{s}": "shoulder01.{s}", "upperarm.{s}": "upperarm01.{s}",
    "forearm.{s}": "lowerarm01.{s}", "hand.{s}": "wrist.{s}", "hip.{s}": "pelvis.{s}",
    "thigh.{s}": "upperleg01.{s}", "shin.{s}": "lowerleg01.{s}", "foot.{s}": "foot.{s}",
}


def pose_bone(build: BodyBuild, key: str, side: str = "") -> bpy.types.PoseBone:
    if not build.rig_name.startswith("default"):
        raise MotionError(f"procedural poses need the default rig family, not {build.rig_name!r}")
    name = _DEFAULT_RIG_BONES[key.replace(side, "{s}") if side else key].format(s=side)
    return build.armature.pose.bones[name]


def rotate(pb: bpy.types.PoseBone, axis: Vector, degrees: float) -> None:
    """Rotate a bone about an axis given in the armature's rest frame, relative to its parent.

    The local rotation is R⁻¹·Q·R (R = the bone's rest orientation), left-multiplied onto
    what the bone already has, so successive calls compose like rotations in the
    (parent-carried) armature frame.
    """
    if abs(degrees) < 1e-9:
        return
    rest = pb.bone.matrix_local.to_3x3()
    local_axis = rest.inverted() @ axis
    q = Quaternion(local_axis.normalized(), math.radians(degrees))
    pb.rotation_mode = "QUATERNION"
    pb.rotation_quaternion = q @ pb.rotation_quaternion
