"""The ``walk`` source: the shipped MPFB2 walk cycle, FK torso + IK limbs, walking in place.

How MPFB2 plays `walkcycles/crappy_experimental_female.json` (its rig helpers with default
settings, `services/righelpers` + `AnimationService.walk_cycle_from_dict`):
* ``<side>_foot_ik``: a bone with the foot's rest matrix, no parent (leg parenting NONE);
  the lower-leg chain (lowerleg02 … upperleg01) reaches for it and the foot copies its
  rotation. ``<side>_knee_ik``: a bone at the knee along upperleg02 (roll 0), no parent;
  the knee bends towards it (it sits ~0.45 m in front of the knee: a pole).
* ``<side>_hand_ik``: the wrist's rest matrix, ``<side>_elbow_ik``: at the elbow along
  upperarm02; both children of spine01 (arm parenting SPINE), so they follow the torso;
  the elbow target sits ~0.4 m behind the elbow (a pole), the hand copies its rotation.
* Pose-bone ``location`` is in the bone's rest frame: a target's armature-space matrix is
  rest @ T(location) @ R(euler) (times parent-posed @ parent-rest⁻¹ for the arm targets).
* The character walks forward in the file; the table (`core/walk_cycle.py`) removes that
  travel, so the walk stays on the spot and loops.
The limbs are then solved here analytically (two-bone IK with the IK target as the pole)
instead of with Blender IK constraints: no extra bones or constraints on our armature,
no depsgraph round trip, the result is plain FK rotations and costs well under a
millisecond. Offsets are scaled by the character's leg / arm length over the cycle's
`metadata` lengths, so short and tall bodies take proportional steps.
"""
from __future__ import annotations

import math

import bpy
from mathutils import Euler, Matrix, Vector

from ...core.walk_cycle import walk_table
from ..body import BodyBuild
from .bones import Y, Z, MotionError

WALK_TRACK_WIDENING = 0.3  # fraction of the way from the cycle's foot track to the rest ankles' width
WALK_STANCE_REACH = 0.035  # m (times the leg scale) the planted foot's target is lowered
WALK_STANCE_LIFT = 0.08  # m above its rest height where a foot counts as lifted (no lowering)
_WALK_FK_BONES = ("root", "spine01", "spine02", "spine03", "spine04", "spine05", "neck01", "head",
                  "clavicle.L", "clavicle.R")


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


def shipped_walk(build: BodyBuild, phase: float, stride: float, arm_swing: float) -> None:
    if not build.rig_name.startswith("default"):
        raise MotionError(f"the shipped walk cycle needs the default rig family, not {build.rig_name!r}")
    table = walk_table()
    values = {k: Vector(v) for k, v in table.at(phase).items()}
    arm = build.armature
    bones = arm.data.bones
    # offsets are in metres for the cycle author's body: scale them to this one
    leg_scale = _chain_length(bones, [n.format(s="L") for n in _LEG_CHAIN[:4]]) / float(table.metadata.get("leg_length", 0.764))
    arm_scale = _chain_length(bones, [n.format(s="L") for n in _ARM_CHAIN[:4]]) / float(table.metadata.get("arm_length", 0.447))
    posed = _walk_torso(arm, values, leg_scale)
    for side in "LR":
        _walk_leg(arm, posed, values, side, leg_scale, stride)
        _walk_arm(arm, posed, values, side, arm_scale, arm_swing)
