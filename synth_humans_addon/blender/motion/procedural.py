"""Procedural poses: the ``procedural_walk`` gait and four ``standing`` variants.

* ``procedural_walk``: hip, knee, ankle, shoulder and elbow rotations as smooth periodic
  functions of the phase (`stride` scales the leg angles, `arm_swing` the arm angles),
  plus a little pelvis bob, hip sway and counter-twist of the spine.
* ``standing``: four variants (`variant` % 4): 0 arms relaxed at the sides,
  1 hands-in-pockets-like (elbows bent, hands by the hips), 2 weight on one leg (hip
  shifted, other knee bent), 3 holding a phone (forearms forward, head down).

A positive "flexion" below means the limb moves forward (towards −Y).
"""
from __future__ import annotations

import math

from mathutils import Vector

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
        rotate(pose_bone(build, f"upperarm.{side}", side), Y, sign * drop)


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
    rotate(pose_bone(build, f"forearm.{side}", side), axis.normalized(), bend - rest)


def _flex(build: BodyBuild, key: str, side: str, degrees: float) -> None:
    """Forward flexion (positive = the distal end moves to −Y) about the body's X axis."""
    rotate(pose_bone(build, key + "." + side, side), X, -degrees)


def procedural_gait(build: BodyBuild, phase: float, stride: float, arm_swing: float, torso: bool = True) -> None:
    s = 2.0 * math.pi * (phase % 1.0)
    _arms_down(build, abduction=9.0)
    for side, offset in (("L", 0.0), ("R", math.pi)):
        a = s + offset
        hip = stride * 24.0 * math.sin(a)  # thigh forward when positive
        knee = stride * (6.0 + 52.0 * max(0.0, math.cos(a - 0.35)) ** 2)  # most bent mid-swing
        _flex(build, "thigh", side, hip)
        _flex(build, "shin", side, -knee)
        # keep the sole roughly level: cancel 70 % of the shin's pitch, plus toe-off
        toe_off = stride * 12.0 * max(0.0, -math.sin(a - 0.6)) ** 3
        _flex(build, "foot", side, -0.7 * (hip - knee) - toe_off)
        # arms swing against the legs of the same side
        swing = arm_swing * 18.0 * -math.sin(a)
        _flex(build, "upperarm", side, swing)
        _elbow(build, side, 15.0 + arm_swing * 12.0 * max(0.0, -math.sin(a)))
    if torso:
        rotate(pose_bone(build, "root"), Y, 2.5 * stride * math.sin(s))  # hip sway
        rotate(pose_bone(build, "spine_mid"), Z, -4.0 * stride * math.sin(s))  # shoulders counter-twist
        rotate(pose_bone(build, "chest"), X, 3.0)  # slight forward lean


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
        rotate(pose_bone(build, "thigh.L", "L"), Y, 4.0)
        rotate(pose_bone(build, "thigh.R", "R"), Y, 4.0)
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
