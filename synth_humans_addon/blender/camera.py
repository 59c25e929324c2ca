"""The camera from a `CameraSample`, via `core.geometry` (pure maths, shared with tests).

The camera sits on the hemisphere segment of radius R around the character's mid-height
point, looks at that point, then turns by the sampled yaw/pitch jitter. Sensor fit is
AUTO, which is what `geometry.Intrinsics` assumes.
"""
from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from ..core import geometry
from . import scene as scene_mod


def build_camera(scene: bpy.types.Scene) -> Any:
    data = bpy.data.cameras.new("sh_camera")
    data.sensor_fit = "AUTO"
    data.clip_start = 0.05
    data.clip_end = 1000.0
    obj = scene_mod.link(scene, bpy.data.objects.new("sh_camera", data))
    scene.camera = obj
    return obj


def camera_to_world(sample: Any, target: np.ndarray, jitter: bool = True) -> np.ndarray:
    """4×4 camera matrix for a CameraSample aimed at `target` (world point, metres)."""
    eye = sample.position(0.0) + np.asarray(target, float)
    rot = geometry.look_at(eye, np.asarray(target, float))
    if jitter:
        rot = geometry.rotate_towards(rot, sample.yaw_jitter_deg, sample.pitch_jitter_deg)
    return geometry.camera_matrix(eye, rot)


def apply_camera(camera_obj: Any, sample: Any, cam_to_world: np.ndarray) -> None:
    from mathutils import Matrix

    camera_obj.matrix_world = Matrix(cam_to_world.tolist())
    camera_obj.data.lens = float(sample.focal_length_mm)
    camera_obj.data.sensor_width = float(sample.sensor_width_mm)
    camera_obj.data.sensor_fit = "AUTO"
