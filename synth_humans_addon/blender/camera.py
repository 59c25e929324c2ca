"""The Blender camera object, set from a `CameraSample` and its matrix from `core.framing`.

Where the camera is and where it looks (the hemisphere segment around the character's
mid-height point, plus the sampled yaw/pitch jitter) is pure maths in `core.framing`;
this module only copies the matrix, lens and sensor onto the object. Sensor fit is AUTO,
which is what `geometry.Intrinsics` assumes.
"""
from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from . import scene as scene_mod


def build_camera(scene: bpy.types.Scene) -> Any:
    data = bpy.data.cameras.new("sh_camera")
    data.sensor_fit = "AUTO"
    data.clip_start = 0.05
    data.clip_end = 1000.0
    obj = scene_mod.link(scene, bpy.data.objects.new("sh_camera", data))
    scene.camera = obj
    return obj


def apply_camera(camera_obj: Any, sample: Any, cam_to_world: np.ndarray) -> None:
    from mathutils import Matrix

    camera_obj.matrix_world = Matrix(cam_to_world.tolist())
    camera_obj.data.lens = float(sample.focal_length_mm)
    camera_obj.data.sensor_width = float(sample.sensor_width_mm)
    camera_obj.data.sensor_fit = "AUTO"
