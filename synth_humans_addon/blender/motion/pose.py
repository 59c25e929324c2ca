"""Posing a character: `apply_pose` picks the pose source, then grounds the body.

`apply_pose(build, source, phase, ...)` resets the pose, poses the armature with the
source's module (`procedural`, `walk_cycle`, `bvh`) and puts the lowest body vertex back on
z = 0 by moving the armature object along Z. Deterministic: same arguments, same pose.
"""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ...core.spec import POSE_SOURCES
from ..body import BodyBuild, _alive
from . import bvh, procedural, walk_cycle
from .bones import MotionError


def reset_pose(build: BodyBuild) -> None:
    """Rest pose on every bone; armature back at z = 0."""
    for pb in build.armature.pose.bones:
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = (1, 0, 0, 0)
        pb.rotation_euler = (0, 0, 0)
        pb.location = (0, 0, 0)
        pb.scale = (1, 1, 1)
    build.armature.location.z = 0.0


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
        procedural.procedural_gait(build, phase, stride, arm_swing)
    elif source == "walk":
        walk_cycle.shipped_walk(build, phase, stride, arm_swing)
    elif source == "standing":
        procedural.standing(build, variant)
    else:
        if not bvh_file:
            raise MotionError("pose source 'bvh' needs bvh_file")
        bvh.bvh_pose(build, Path(bvh_file), phase)
    if grounded:
        ground(build)
