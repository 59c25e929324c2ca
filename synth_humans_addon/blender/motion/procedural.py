"""Procedural poses: the ``procedural_walk`` gait and four ``standing`` variants.

* ``procedural_walk``: the angles of `core.gait` (hip, knee, ankle, shoulder and elbow as
  smooth periodic functions of the phase, hip sway and counter-twist of the spine) as bone
  rotations.
* ``standing``: four variants (`variant` % 4): 0 arms relaxed at the sides,
  1 hands-in-pockets-like (elbows bent, hands by the hips), 2 weight on one leg (hip
  shifted, other knee bent), 3 holding a phone (forearms forward, head down).

A positive "flexion" below means the limb moves forward (towards −Y).
"""
from __future__ import annotations

import math

from mathutils import Vector

from ...core.gait import GAIT_ARM_ABDUCTION, gait_angles
from ..body import BodyBuild
from .bones import X, Y, Z, pose_bone, rotate

STANDING_VARIANTS = 4


def _arm_rest_abduction(build: BodyBuild, side: str) -> float:
    """Angle (degrees) between the rest upper arm and the vertical, in the frontal plane."""
    up = build.rig.bone(f"upperarm01.{side}")
    elbow = build.rig.bone(f"upperarm02.{side}").tail
    v = elbow - up.head
    return math.degrees(math.atan2(abs(v[0]), -v[2]))


def _arms_down(build: BodyBuild, abduction: float = 8.0) -> None:
    """Lower both arms from MakeHuman's A-pose to `abduction` degrees from the body."""
    for side, sign in (("L", 1.0), ("R", -1.0)):
        drop = _arm_rest_abduction(build, side) - abduction
        rotate(pose_bone(build, "upperarm", side), Y, sign * drop)


def _elbow(build: BodyBuild, side: str, bend: float) -> None:
    """Set the elbow to `bend` degrees (0 = straight), about its own rest bending axis.

    MakeHuman's rest pose already bends the elbow (about 45°, forearm pointing forward);
    this rotates the forearm about the axis of that bend by the difference.
    """
    up = build.rig.bone(f"upperarm01.{side}").head
    elbow = build.rig.bone(f"lowerarm01.{side}").head
    hand = build.rig.bone(f"lowerarm02.{side}").tail
    u, f = Vector(elbow - up).normalized(), Vector(hand - elbow).normalized()
    rest = math.degrees(u.angle(f))
    axis = u.cross(f)
    if axis.length < 1e-6:
        axis = X.copy()
    rotate(pose_bone(build, "forearm", side), axis.normalized(), bend - rest)


def _flex(build: BodyBuild, role: str, side: str, degrees: float) -> None:
    """Forward flexion (positive = the distal end moves to −Y) about the body's X axis."""
    rotate(pose_bone(build, role, side), X, -degrees)


def procedural_gait(build: BodyBuild, phase: float, stride: float, arm_swing: float, torso: bool = True) -> None:
    g = gait_angles(phase, stride, arm_swing)
    _arms_down(build, abduction=GAIT_ARM_ABDUCTION)
    for side, a in g.sides.items():
        _flex(build, "thigh", side, a.thigh)
        _flex(build, "shin", side, -a.knee)
        _flex(build, "foot", side, a.foot)
        _flex(build, "upperarm", side, a.upperarm)
        _elbow(build, side, a.elbow)
    if torso:
        rotate(pose_bone(build, "root"), Y, g.sway)
        rotate(pose_bone(build, "spine"), Z, g.twist)
        rotate(pose_bone(build, "chest"), X, g.lean)


def standing(build: BodyBuild, variant: int) -> None:
    v = variant % STANDING_VARIANTS
    if v == 0:  # relaxed, arms at the sides
        _arms_down(build, 7.0)
        for side in "LR":
            _elbow(build, side, 10.0)
    elif v == 1:  # hands in pockets: upper arms back a little, elbows bent, hands at the hips
        _arms_down(build, 12.0)
        for side in "LR":
            _flex(build, "upperarm", side, -12.0)
            _elbow(build, side, 40.0)
    elif v == 2:  # weight on the right leg, left knee relaxed
        _arms_down(build, 8.0)
        for side in "LR":
            _elbow(build, side, 12.0)
        rotate(pose_bone(build, "root"), Y, -4.0)
        rotate(pose_bone(build, "thigh", "L"), Y, 4.0)
        rotate(pose_bone(build, "thigh", "R"), Y, 4.0)
        _flex(build, "thigh", "L", 6.0)
        _flex(build, "shin", "L", -14.0)
        rotate(pose_bone(build, "chest"), Y, 3.0)
        rotate(pose_bone(build, "head"), Z, 8.0)
    else:  # holding a phone: forearms forward, head down
        _arms_down(build, 6.0)
        for side in "LR":
            _flex(build, "upperarm", side, 8.0)
            _elbow(build, side, 80.0)
        rotate(pose_bone(build, "head"), X, 14.0)  # +X tips upward bones forward
        rotate(pose_bone(build, "neck"), X, 6.0)
