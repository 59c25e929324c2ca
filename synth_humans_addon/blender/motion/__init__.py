"""Posing a `BodyBuild`: walk cycles, standing poses and BVH motion capture.

`pose.apply_pose(build, source, phase, ...)` resets the pose, poses the armature (FK
rotations on the pose bones, no actions, no constraints) and puts the lowest body vertex back
on z = 0 by moving the armature object along Z. It is deterministic: same arguments, same pose.

One module per pose source, and the shared parts:

* `pose`: `apply_pose` (the dispatch by source), `reset_pose`, `ground`;
* `bones`: the pose bone of a role (the roles: `core.mpfb.bones`), rotation about armature axes, `MotionError`;
* `procedural`: ``procedural_walk`` (its angles: `core/gait.py`) and ``standing``;
* `walk_cycle`: ``walk``, the shipped MPFB2 cycle (its table: `core/walk_cycle.py`);
* `bvh`: ``bvh``, motion capture files retargeted onto our rig.

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
  and 1 meet. `stride` scales the feet's fore-aft reach, `arm_swing` the hands'. See
  `walk_cycle` and docs/body.md.
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
