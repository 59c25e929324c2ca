"""The procedural walk's joint angles: smooth periodic functions of the phase (no bpy).

Per side, the hip, knee, ankle, shoulder and elbow angles (degrees) at `phase` ∈ [0, 1):
`stride` scales the leg angles, `arm_swing` the arm angles; the right side runs half a cycle
behind the left. The torso adds a little hip sway, a counter-twist of the spine and a
forward lean. `blender/motion/procedural.py` turns these into bone rotations.

A positive flexion moves the limb's far end forward (towards −Y).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

GAIT_ARM_ABDUCTION = 9.0  # degrees between the lowered upper arms and the body


@dataclass(frozen=True)
class LimbAngles:
    """One side's angles, degrees."""

    thigh: float  # hip flexion: the thigh forward when positive
    knee: float  # knee bend, most bent mid-swing
    foot: float  # ankle flexion that keeps the sole roughly level, plus toe-off
    upperarm: float  # shoulder flexion: the arm swings against the leg of its side
    elbow: float  # elbow bend (0 = straight)


@dataclass(frozen=True)
class GaitAngles:
    sides: dict[str, LimbAngles]  # "L", "R"
    sway: float  # hip sway: the root about Y
    twist: float  # shoulders' counter-twist: the spine about Z
    lean: float  # slight forward lean: the chest about X


def gait_angles(phase: float, stride: float, arm_swing: float) -> GaitAngles:
    s = 2.0 * math.pi * (phase % 1.0)
    sides = {}
    for side, offset in (("L", 0.0), ("R", math.pi)):
        a = s + offset
        hip = stride * 24.0 * math.sin(a)
        knee = stride * (6.0 + 52.0 * max(0.0, math.cos(a - 0.35)) ** 2)
        # cancel 70 % of the shin's pitch, plus toe-off
        toe_off = stride * 12.0 * max(0.0, -math.sin(a - 0.6)) ** 3
        sides[side] = LimbAngles(thigh=hip, knee=knee, foot=-0.7 * (hip - knee) - toe_off,
                                 upperarm=arm_swing * 18.0 * -math.sin(a),
                                 elbow=15.0 + arm_swing * 12.0 * max(0.0, -math.sin(a)))
    return GaitAngles(sides=sides, sway=2.5 * stride * math.sin(s), twist=-4.0 * stride * math.sin(s), lean=3.0)
