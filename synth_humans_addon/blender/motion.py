"""Posing a `BodyBuild`: walk cycles, standing poses and BVH motion capture.

`apply_pose(build, source, phase, ...)` resets the pose, poses the armature (FK rotations on
the pose bones, no actions, no constraints) and puts the lowest body vertex back on z = 0
by moving the armature object along Z. It is deterministic: same arguments, same pose.

Sources
-------
* ``procedural_walk``: hip, knee, ankle, shoulder and elbow rotations as smooth periodic
  functions of the phase (`stride` scales the leg angles, `arm_swing` the arm angles),
  plus a little pelvis bob, hip sway and counter-twist of the spine.
* ``walk``: the shipped MPFB2 cycle ``walkcycles/crappy_experimental_female.json`` on the
  whole body. Torso channels (root, spine01-05, neck01, head, clavicles) are FK as keyed;
  the limbs follow the cycle's IK targets (``left_foot_ik``/``left_knee_ik``,
  ``left_hand_ik``/``left_elbow_ik`` …) rebuilt the way MPFB's rig helpers define them and
  solved by an analytic two-bone IK (target = pole for knees and elbows). The forward
  travel is removed (the character walks on the spot) and the ends are blended so phase 0
  and 1 meet. `stride` scales the feet's fore-aft reach, `arm_swing` the hands'. See the
  section comment below and docs/body.md.
* ``standing``: four procedural variants (`variant` % 4): 0 arms relaxed at the sides,
  1 hands-in-pockets-like (elbows bent, hands by the hips), 2 weight on one leg (hip
  shifted, other knee bent), 3 holding a phone (forearms forward, head down). The shipped ``poses/`` are only
  T-poses, not useful here.
* ``bvh``: a BVH file imported with Blender's importer, sampled at `phase` of its frame
  range and retargeted by bone names (CMU/Mixamo naming) with per-bone direction
  alignment, so a T-pose BVH drives our A-pose rig correctly; root translation is dropped
  (the character stays on the spot). Unmappable files raise `MotionError` naming the file
  and the missing bones.

Frame conventions: the character faces −Y, +X is its left, Z up. A positive "flexion"
below means the limb moves forward (towards −Y).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from mathutils import Euler, Matrix, Quaternion, Vector

from ..core.mpfb.walk import load_walk_cycle
from ..core.spec import POSE_SOURCES
from .body import BodyBuild, _alive

STANDING_VARIANTS = 4
X, Y, Z = Vector((1, 0, 0)), Vector((0, 1, 0)), Vector((0, 0, 1))


class MotionError(ValueError):
    """A pose source or motion file that cannot drive the rig."""


# ---------------------------------------------------------------------------------------
# Pose helpers (default / default_no_toes rig)
# ---------------------------------------------------------------------------------------

_DEFAULT_RIG_BONES = {
    "root": "root", "spine_low": "spine04", "spine_mid": "spine03", "chest": "spine01", "neck": "neck01",
    "head": "head", "shoulder.{s}": "shoulder01.{s}", "upperarm.{s}": "upperarm01.{s}",
    "forearm.{s}": "lowerarm01.{s}", "hand.{s}": "wrist.{s}", "hip.{s}": "pelvis.{s}",
    "thigh.{s}": "upperleg01.{s}", "shin.{s}": "lowerleg01.{s}", "foot.{s}": "foot.{s}",
}


def _bone(build: BodyBuild, key: str, side: str = "") -> bpy.types.PoseBone:
    if not build.rig_name.startswith("default"):
        raise MotionError(f"procedural poses need the default rig family, not {build.rig_name!r}")
    name = _DEFAULT_RIG_BONES[key.replace(side, "{s}") if side else key].format(s=side)
    return build.armature.pose.bones[name]


def _rotate(pb: bpy.types.PoseBone, axis: Vector, degrees: float) -> None:
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


def reset_pose(build: BodyBuild) -> None:
    """Rest pose on every bone; armature back at z = 0."""
    for pb in build.armature.pose.bones:
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = (1, 0, 0, 0)
        pb.rotation_euler = (0, 0, 0)
        pb.location = (0, 0, 0)
        pb.scale = (1, 1, 1)
    build.armature.location.z = 0.0


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
        _rotate(_bone(build, f"upperarm.{side}", side), Y, sign * drop)


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
    _rotate(_bone(build, f"forearm.{side}", side), axis.normalized(), bend - rest)


def _flex(build: BodyBuild, key: str, side: str, degrees: float) -> None:
    """Forward flexion (positive = the distal end moves to −Y) about the body's X axis."""
    _rotate(_bone(build, key + "." + side, side), X, -degrees)


def _procedural_gait(build: BodyBuild, phase: float, stride: float, arm_swing: float, torso: bool = True) -> None:
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
        _rotate(_bone(build, "root"), Y, 2.5 * stride * math.sin(s))  # hip sway
        _rotate(_bone(build, "spine_mid"), Z, -4.0 * stride * math.sin(s))  # shoulders counter-twist
        _rotate(_bone(build, "chest"), X, 3.0)  # slight forward lean


def _standing(build: BodyBuild, variant: int) -> None:
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
        _rotate(_bone(build, "root"), Y, -4.0)
        _rotate(_bone(build, "thigh.L", "L"), Y, 4.0)
        _rotate(_bone(build, "thigh.R", "R"), Y, 4.0)
        _flex(build, "thigh", "L", 6.0)
        _flex(build, "shin", "L", -14.0)
        _rotate(_bone(build, "chest"), Y, 3.0)
        _rotate(_bone(build, "head"), Z, 8.0)
    else:  # holding a phone: forearms forward, head down
        _arms_down(build, 6.0)
        for side in "LR":
            _flex(build, "upperarm", side, 8.0)
            _elbow(build, side, 80.0)
        _rotate(_bone(build, "head"), X, 14.0)  # +X tips upward bones forward
        _rotate(_bone(build, "neck"), X, 6.0)


# ---------------------------------------------------------------------------------------
# The shipped walk cycle: FK torso + IK limbs, walking in place
# ---------------------------------------------------------------------------------------
#
# How MPFB2 plays `walkcycles/crappy_experimental_female.json` (its rig helpers with default
# settings, `services/righelpers` + `AnimationService.walk_cycle_from_dict`):
# * ``<side>_foot_ik``: a bone with the foot's rest matrix, no parent (leg parenting NONE);
#   the lower-leg chain (lowerleg02 … upperleg01) reaches for it and the foot copies its
#   rotation. ``<side>_knee_ik``: a bone at the knee along upperleg02 (roll 0), no parent;
#   the knee bends towards it (it sits ~0.45 m in front of the knee: a pole).
# * ``<side>_hand_ik``: the wrist's rest matrix, ``<side>_elbow_ik``: at the elbow along
#   upperarm02; both children of spine01 (arm parenting SPINE), so they follow the torso;
#   the elbow target sits ~0.4 m behind the elbow (a pole), the hand copies its rotation.
# * Pose-bone ``location`` is in the bone's rest frame: a target's armature-space matrix is
#   rest @ T(location) @ R(euler) (times parent-posed @ parent-rest⁻¹ for the arm targets).
# * The character walks forward: root, feet and knees carry the same 0.785 m of travel
#   over the 40 frames (MPFB repeats it with a REPEAT_OFFSET cycle). Subtracting the
#   linear drift of every location channel removes exactly that constant-speed travel and
#   keeps the pelvis' own surge and bob, so the walk stays on the spot and loops; other
#   channels that do not loop (the toes) are blended into their first key over the last
#   frames.
# The limbs are then solved here analytically (two-bone IK with the IK target as the pole)
# instead of with Blender IK constraints: no extra bones or constraints on our armature,
# no depsgraph round trip, the result is plain FK rotations and costs well under a
# millisecond. Offsets are scaled by the character's leg / arm length over the cycle's
# `metadata` lengths, so short and tall bodies take proportional steps.

WALK_CYCLE_NAME = "crappy_experimental_female"
WALK_TABLE_STEPS_PER_FRAME = 4  # the cycle is tabulated at quarter frames, then linearly interpolated
WALK_LOOP_BLEND_FRAMES = 6.0  # non-looping channels are blended into their start over this many frames
WALK_TRACK_WIDENING = 0.3  # fraction of the way from the cycle's foot track to the rest ankles' width
WALK_STANCE_REACH = 0.035  # m (times the leg scale) the planted foot's target is lowered
WALK_STANCE_LIFT = 0.08  # m above its rest height where a foot counts as lifted (no lowering)
_WALK_FK_BONES = ("root", "spine01", "spine02", "spine03", "spine04", "spine05", "neck01", "head",
                  "clavicle.L", "clavicle.R")


@dataclass(frozen=True)
class WalkTable:
    """A walk cycle tabulated on a uniform phase grid, with the forward travel removed and
    its ends made to meet: ``values[(bone, channel)]`` has shape (len(phases), 3) and row
    0 equals the last row."""

    phases: np.ndarray
    values: dict[tuple[str, str], np.ndarray]
    metadata: dict

    def at(self, phase: float) -> dict[tuple[str, str], Vector]:
        """Channel values at `phase` (wrapped into [0, 1)), linearly interpolated."""
        x = (phase % 1.0) * (len(self.phases) - 1)
        i = min(int(x), len(self.phases) - 2)
        t = x - i
        return {k: Vector((1.0 - t) * v[i] + t * v[i + 1]) for k, v in self.values.items()}


def _bezier_on_frames(keys: list, frames: np.ndarray, samples: int = 48) -> np.ndarray:
    """One keyed F-curve (Bézier segments between `core.mpfb.walk.CurveKey`s) evaluated at `frames`;
    constant before the first and after the last key, like Blender's default extrapolation."""
    if len(keys) == 1:
        return np.full(len(frames), keys[0].value)
    a, b = keys[:-1], keys[1:]
    p0 = np.array([(k.frame, k.value) for k in a])
    p1 = np.array([k.handle_right for k in a])
    p2 = np.array([k.handle_left for k in b])
    p3 = np.array([(k.frame, k.value) for k in b])
    # Blender clamps handles inside their segment, which keeps x(t) monotonic
    p1[:, 0] = np.clip(p1[:, 0], p0[:, 0], p3[:, 0])
    p2[:, 0] = np.clip(p2[:, 0], p0[:, 0], p3[:, 0])
    t = np.linspace(0.0, 1.0, samples)[None, :, None]
    pts = ((1 - t) ** 3 * p0[:, None] + 3 * (1 - t) ** 2 * t * p1[:, None]
           + 3 * (1 - t) * t ** 2 * p2[:, None] + t ** 3 * p3[:, None]).reshape(-1, 2)
    return np.interp(frames, pts[:, 0], pts[:, 1])


@functools.lru_cache(maxsize=4)
def walk_table(name: str = WALK_CYCLE_NAME) -> WalkTable:
    """The shipped cycle `name` tabulated once per process (see the section comment)."""
    cycle = load_walk_cycle(name)
    first, last = cycle.first_frame, cycle.last_frame
    steps = int(round((last - first) * WALK_TABLE_STEPS_PER_FRAME)) + 1
    frames = np.linspace(first, last, steps)
    ramp = (frames - first) / (last - first)
    blend_start = last - WALK_LOOP_BLEND_FRAMES
    u = np.clip((frames - blend_start) / WALK_LOOP_BLEND_FRAMES, 0.0, 1.0)
    smooth = u * u * (3.0 - 2.0 * u)
    values: dict[tuple[str, str], np.ndarray] = {}
    for bone, chans in cycle.curves.items():
        for ch, comps in chans.items():
            v = np.stack([_bezier_on_frames(keys, frames) for keys in comps], axis=1)
            gap = v[-1] - v[0]
            if ch == "location":  # constant-speed travel (and any slow drift) removed
                v = v - ramp[:, None] * gap[None, :]
            else:  # end blended into the start
                v = v - smooth[:, None] * gap[None, :]
            values[(bone, ch)] = v
    return WalkTable(phases=np.linspace(0.0, 1.0, steps), values=values, metadata=dict(cycle.metadata))


def _chain_length(bones, names) -> float:
    return sum(bones[n].length for n in names)


_LEG_CHAIN = ("upperleg01.{s}", "upperleg02.{s}", "lowerleg01.{s}", "lowerleg02.{s}", "foot.{s}")
_ARM_CHAIN = ("upperarm01.{s}", "upperarm02.{s}", "lowerarm01.{s}", "lowerarm02.{s}", "wrist.{s}")


def _carried(bones, posed: dict[str, Matrix], name: str) -> Matrix:
    """Armature-space matrix of bone `name` with an identity pose, under its posed parent."""
    bone = bones[name]
    if bone.parent is None:
        return bone.matrix_local.copy()
    return posed[bone.parent.name] @ bone.parent.matrix_local.inverted() @ bone.matrix_local


def _pose_fk(bones, posed: dict[str, Matrix], name: str, basis: Matrix) -> Matrix:
    """Store and return bone `name`'s posed matrix for a local `basis` (4×4)."""
    if name not in posed:
        if bones[name].parent is not None and bones[name].parent.name not in posed:
            _pose_fk(bones, posed, bones[name].parent.name, Matrix.Identity(4))
    posed[name] = _carried(bones, posed, name) @ basis
    return posed[name]


def _frame(u: Vector, f: Vector) -> Matrix:
    """Orthonormal 3×3 frame with columns (u, f, u × f); f is made orthogonal to u."""
    f = (f - u * f.dot(u)).normalized()
    return Matrix((u, f, u.cross(f))).transposed()


def _solve_limb(arm: bpy.types.Object, posed: dict[str, Matrix], chain: tuple[str, ...], target: Vector,
                pole: Vector, rest_bend: Vector, end_rotation: Matrix | None) -> None:
    """Two-segment IK: chain = (upper, upper twist, lower, lower twist, end).

    The upper and lower segments (head of upper → head of lower → head of end) reach for
    `target` (clamped to the reachable shell); the middle joint bends towards `pole`; the
    upper segment's twist is fixed by turning its rest bending direction `rest_bend`
    (armature rest frame) onto the pole side. The twist bones keep identity rotations.
    `end_rotation` (armature space, 3×3) orients the end bone; None keeps it FK.
    Sets the pose bones' quaternions and records their posed matrices in `posed`.
    """
    bones = arm.data.bones
    upper, upper2, lower, lower2, end = chain
    h0, k0, a0 = bones[upper].head_local, bones[lower].head_local, bones[end].head_local
    l1, l2 = (k0 - h0).length, (a0 - k0).length

    carried_upper = _carried(bones, posed, upper)
    hip = carried_upper.translation
    carry = carried_upper.to_3x3() @ bones[upper].matrix_local.to_3x3().inverted()
    u_cur = (carry @ (k0 - h0)).normalized()
    f_cur = carry @ rest_bend

    d = target - hip
    dist = min(max(d.length, abs(l1 - l2) + 1e-4), (l1 + l2) * 0.9995)
    dn = d.normalized() if d.length > 1e-9 else -Z
    along = (l1 * l1 - l2 * l2 + dist * dist) / (2.0 * dist)
    height = math.sqrt(max(l1 * l1 - along * along, 0.0))
    side = pole - hip
    side = side - dn * side.dot(dn)
    if side.length < 1e-6:
        side = f_cur - dn * f_cur.dot(dn)
    side.normalize()
    knee = hip + dn * along + side * height
    u_new = (knee - hip).normalized()
    turn = _frame(u_new, side) @ _frame(u_cur, f_cur).transposed()

    upper_posed = Matrix.Translation(hip) @ (turn @ carried_upper.to_3x3()).to_4x4()
    _set_basis(arm, upper, carried_upper, upper_posed)
    posed[upper] = upper_posed
    _pose_fk(bones, posed, upper2, Matrix.Identity(4))

    carried_lower = _carried(bones, posed, lower)
    carry = carried_lower.to_3x3() @ bones[lower].matrix_local.to_3x3().inverted()
    v_cur = (carry @ (a0 - k0)).normalized()
    v_new = (hip + dn * dist - carried_lower.translation).normalized()
    bend = v_cur.rotation_difference(v_new).to_matrix()
    lower_posed = Matrix.Translation(carried_lower.translation) @ (bend @ carried_lower.to_3x3()).to_4x4()
    _set_basis(arm, lower, carried_lower, lower_posed)
    posed[lower] = lower_posed
    _pose_fk(bones, posed, lower2, Matrix.Identity(4))

    carried_end = _carried(bones, posed, end)
    if end_rotation is None:
        posed[end] = carried_end
        return
    end_posed = Matrix.Translation(carried_end.translation) @ end_rotation.to_4x4()
    _set_basis(arm, end, carried_end, end_posed)
    posed[end] = end_posed


def _set_basis(arm: bpy.types.Object, name: str, carried: Matrix, posed: Matrix) -> None:
    pb = arm.pose.bones[name]
    pb.rotation_mode = "QUATERNION"
    pb.rotation_quaternion = (carried.to_3x3().inverted() @ posed.to_3x3()).to_quaternion()


def _ik_rest(bones, name: str) -> Matrix:
    """Rest matrix MPFB gives IK helper `name` (``left_foot_ik`` …) on this armature."""
    side = "L" if name.startswith("left") else "R"
    kind = name.split("_")[1]
    if kind in ("foot", "hand"):
        return bones[("foot." if kind == "foot" else "wrist.") + side].matrix_local.copy()
    src = bones[("upperleg02." if kind == "knee" else "upperarm02.") + side]
    m = bpy.types.Bone.MatrixFromAxisRoll((src.tail_local - src.head_local).normalized(), 0.0).to_4x4()
    m.translation = src.tail_local
    return m


def _arm_rest_bend(bones, side: str) -> Vector:
    """Direction the elbow sticks out of the shoulder–wrist line at rest (backwards in
    MakeHuman's A-pose, whose forearms point forward)."""
    s0 = bones[f"upperarm01.{side}"].head_local
    e0 = bones[f"lowerarm01.{side}"].head_local
    w0 = bones[f"wrist.{side}"].head_local
    line = (w0 - s0).normalized()
    off = (e0 - s0) - line * (e0 - s0).dot(line)
    return off.normalized() if off.length > 1e-4 else Y.copy()


def _walk_torso(arm: bpy.types.Object, values: dict, leg_scale: float) -> dict[str, Matrix]:
    """Keyed FK channels of the torso (root with its residual surge/bob, spine, neck, head,
    clavicles); returns the posed armature-space matrices computed on the way."""
    bones = arm.data.bones
    posed: dict[str, Matrix] = {}
    for bone in bones:  # parents first: Blender orders bones hierarchically
        name = bone.name
        if name not in _WALK_FK_BONES or (name, "rotation_euler") not in values:
            continue
        q = Euler(values[(name, "rotation_euler")], "XYZ").to_quaternion()
        loc = values[(name, "location")] * leg_scale if name == "root" and (name, "location") in values else Vector()
        pb = arm.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = q
        pb.location = loc
        _pose_fk(bones, posed, name, Matrix.Translation(loc) @ q.to_matrix().to_4x4())
    return posed


def _walk_leg(arm: bpy.types.Object, posed: dict[str, Matrix], values: dict, side: str, leg_scale: float,
              stride: float) -> None:
    """One leg from ``<side>_foot_ik`` (ankle target + foot rotation) and ``<side>_knee_ik`` (pole).

    The foot target lives in the armature frame (MPFB leg parenting NONE). `stride` scales
    its fore-aft distance from the hip and the foot/toe pitch."""
    bones = arm.data.bones
    prefix = "left" if side == "L" else "right"
    _pose_fk(bones, posed, f"pelvis.{side}", Matrix.Identity(4))
    hip = _carried(bones, posed, f"upperleg01.{side}").translation
    foot_ik = _ik_rest(bones, f"{prefix}_foot_ik")
    target = foot_ik @ (values[(f"{prefix}_foot_ik", "location")] * leg_scale)
    target.y = hip.y + stride * (target.y - hip.y)
    # the cycle puts the feet nearly on one line (a catwalk): widen the track a little
    ankle_rest = bones[f"foot.{side}"].head_local
    target.x += WALK_TRACK_WIDENING * (ankle_rest.x - target.x)
    # on our rigs the cycle's planted foot is 2-4 cm too close to the hip, which bends the
    # stance knee 25-40°: lower the target while the foot is near the ground
    lifted = max(0.0, 1.0 - (target.z - ankle_rest.z) / (WALK_STANCE_LIFT * leg_scale))
    target.z -= WALK_STANCE_REACH * leg_scale * lifted
    pole = _ik_rest(bones, f"{prefix}_knee_ik") @ (values[(f"{prefix}_knee_ik", "location")] * leg_scale)
    pitch = min(stride, 1.5)
    foot_rot = foot_ik.to_3x3() @ Euler(values[(f"{prefix}_foot_ik", "rotation_euler")] * pitch, "XYZ").to_matrix()
    _solve_limb(arm, posed, tuple(n.format(s=side) for n in _LEG_CHAIN), target, pole, -Y, foot_rot)
    toe = f"toe1-1.{side}"
    if (toe, "rotation_euler") in values and toe in bones:
        pb = arm.pose.bones[toe]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = Euler(values[(toe, "rotation_euler")] * pitch, "XYZ").to_quaternion()


def _walk_arm(arm: bpy.types.Object, posed: dict[str, Matrix], values: dict, side: str, arm_scale: float,
              arm_swing: float) -> None:
    """One arm from ``<side>_hand_ik`` (wrist target + hand rotation) and ``<side>_elbow_ik``
    (pole), both children of spine01 (MPFB arm parenting SPINE) so they follow the torso.
    `arm_swing` scales the hand's fore-aft distance from the shoulder."""
    bones = arm.data.bones
    prefix = "left" if side == "L" else "right"
    spine = posed["spine01"] @ bones["spine01"].matrix_local.inverted()
    hand_ik = spine @ _ik_rest(bones, f"{prefix}_hand_ik")
    target = hand_ik @ (values[(f"{prefix}_hand_ik", "location")] * arm_scale)
    _pose_fk(bones, posed, f"shoulder01.{side}", Matrix.Identity(4))
    shoulder = _carried(bones, posed, f"upperarm01.{side}").translation
    target.y = shoulder.y + arm_swing * (target.y - shoulder.y)
    pole = spine @ _ik_rest(bones, f"{prefix}_elbow_ik") @ (values[(f"{prefix}_elbow_ik", "location")] * arm_scale)
    hand_rot = hand_ik.to_3x3() @ Euler(values[(f"{prefix}_hand_ik", "rotation_euler")], "XYZ").to_matrix()
    _solve_limb(arm, posed, tuple(n.format(s=side) for n in _ARM_CHAIN), target, pole,
                _arm_rest_bend(bones, side), hand_rot)


def _shipped_walk(build: BodyBuild, phase: float, stride: float, arm_swing: float) -> None:
    if not build.rig_name.startswith("default"):
        raise MotionError(f"the shipped walk cycle needs the default rig family, not {build.rig_name!r}")
    table = walk_table()
    values = table.at(phase)
    arm = build.armature
    bones = arm.data.bones
    # offsets are in metres for the cycle author's body: scale them to this one
    leg_scale = _chain_length(bones, [n.format(s="L") for n in _LEG_CHAIN[:4]]) / float(table.metadata.get("leg_length", 0.764))
    arm_scale = _chain_length(bones, [n.format(s="L") for n in _ARM_CHAIN[:4]]) / float(table.metadata.get("arm_length", 0.447))
    posed = _walk_torso(arm, values, leg_scale)
    for side in "LR":
        _walk_leg(arm, posed, values, side, leg_scale, stride)
        _walk_arm(arm, posed, values, side, arm_scale, arm_swing)


# ---------------------------------------------------------------------------------------
# BVH retargeting
# ---------------------------------------------------------------------------------------

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


def _bvh_pose(build: BodyBuild, path: Path, phase: float) -> None:
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


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------

def ground(build: BodyBuild) -> float:
    """Move the armature along Z so the lowest evaluated body vertex is on z = 0."""
    build.armature.location.z = 0.0
    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    ev = build.body.evaluated_get(dg)
    mesh = ev.data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    z_min = float(co.reshape(-1, 3)[:, 2].min())
    build.armature.location.z = -z_min
    return -z_min


def apply_pose(build: BodyBuild, source: str, phase: float = 0.0, stride: float = 1.0, arm_swing: float = 1.0,
               bvh_file: str | Path | None = None, variant: int = 0, grounded: bool = True) -> None:
    """Pose the character. `phase` ∈ [0, 1) picks the moment of a cycle or clip.

    Deterministic. With `grounded`, the armature is moved along Z so the feet touch z = 0.
    """
    if source not in POSE_SOURCES:
        raise MotionError(f"unknown pose source {source!r}; known: {POSE_SOURCES}")
    if not _alive(build.armature):
        raise MotionError("the body has been removed")
    reset_pose(build)
    if source == "procedural_walk":
        _procedural_gait(build, phase, stride, arm_swing)
    elif source == "walk":
        _shipped_walk(build, phase, stride, arm_swing)
    elif source == "standing":
        _standing(build, variant)
    else:
        if not bvh_file:
            raise MotionError("pose source 'bvh' needs bvh_file")
        _bvh_pose(build, Path(bvh_file), phase)
    if grounded:
        ground(build)
