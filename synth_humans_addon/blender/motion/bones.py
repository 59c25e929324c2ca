"""Posing helpers: a pose bone by role on the default rig family, rotations about armature axes.

Frame conventions: the character faces −Y, +X is its left, Z up.
"""
from __future__ import annotations

import math

import bpy
from mathutils import Quaternion, Vector

from ...core.mpfb.bones import rig_bone_name, sided
from ..body import BodyBuild

X, Y, Z = Vector((1, 0, 0)), Vector((0, 1, 0)), Vector((0, 0, 1))


class MotionError(ValueError):
    """A pose source or motion file that cannot drive the rig."""


def pose_bone(build: BodyBuild, role: str, side: str = "") -> bpy.types.PoseBone:
    """The pose bone playing `role` (``"thigh"`` with side ``"L"`` is the left thigh)."""
    if not build.rig_name.startswith("default"):
        raise MotionError(f"procedural poses need the default rig family, not {build.rig_name!r}")
    return build.armature.pose.bones[rig_bone_name(build.rig_name, sided(role, side) if side else role)]


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
