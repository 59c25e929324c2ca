"""Framing one image: where the camera is, which crop of its frame holds the person (no bpy).

`blender/render.py` measures the posed person's box in the scene; everything from there to
the render border is pure maths on that box and the image's `CameraSample`, built on
`core.geometry`:

1. `camera_to_world` places the camera on its hemisphere around the box centre
   (`box_target`), aims it there and turns it by the sampled yaw/pitch jitter.
2. `plan_image_crop` projects the box's eight corners into that camera
   (`geometry.plan_crop`): the full frame is scaled so that the box is `crop_height`
   pixels high, and the crop is the box's rectangle. If aim jitter pushed the box out of
   the frame, the camera is re-aimed at the box centre without jitter (documented
   fallback); if that fails too (camera inside the box), `CharacterOutOfFrame` is raised.
3. `points_in_crop` projects points (the joints) into the crop's pixels.

Things around the person (structures, other people) are sampled in each image's *view frame*
(the person at the origin, +x from the camera through the person, +y to its side) so that
"behind the person" stays behind it in every view; `view_to_world` turns them for a camera.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import geometry
from .geometry import CharacterOutOfFrame, CropPlan

FRAME_ASPECT = 1.0  # full frame width/height; square keeps Blender's AUTO sensor fit unambiguous


@dataclass
class CropResult:
    plan: CropPlan
    cam_to_world: np.ndarray
    reaimed: bool  # True when the jittered aim lost the person and the camera was re-aimed


def camera_to_world(sample: Any, target: np.ndarray, jitter: bool = True) -> np.ndarray:
    """4×4 camera matrix for a CameraSample aimed at `target` (world point, metres): on the
    sphere of its radius around the target, at its azimuth and θ."""
    eye = geometry.spherical_to_cartesian(sample.azimuth_deg, sample.theta_deg, sample.radius) + \
        np.asarray(target, float)
    rot = geometry.look_at(eye, np.asarray(target, float))
    if jitter:
        rot = geometry.rotate_towards(rot, sample.yaw_jitter_deg, sample.pitch_jitter_deg)
    return geometry.camera_matrix(eye, rot)


def box_target(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The point the camera aims at: the centre of the person's box (mid-height)."""
    return (lo + hi) / 2.0


def plan_image_crop(camera_sample: Any, lo: np.ndarray, hi: np.ndarray, crop_height: int, margin: float,
                    box: Any = None) -> CropResult:
    """Camera matrix and crop plan for one image; re-aims without jitter if the box leaves the frame.

    `box`: the image's `sampling.BoxSample` (detector-like jitter and truncation), or None."""
    target = box_target(lo, hi)
    corners = geometry.box_corners(lo, hi)
    for jitter in (True, False):
        m = camera_to_world(camera_sample, target, jitter=jitter)
        try:
            plan = geometry.plan_crop(corners, m, camera_sample.focal_length_mm, camera_sample.sensor_width_mm,
                                      crop_height, margin, FRAME_ASPECT, box=box)
            return CropResult(plan, m, reaimed=not jitter)
        except CharacterOutOfFrame:
            if not jitter:
                raise
    raise AssertionError("unreachable")


def points_in_crop(points: np.ndarray, cam_to_world: np.ndarray, camera_sample: Any,
                   plan: CropPlan) -> list[tuple[float, float, bool]]:
    """(x, y, inside) of each world point (n, 3) in the crop's pixels; `inside` when the point
    is in front of the camera and within the crop."""
    intr = geometry.Intrinsics(camera_sample.focal_length_mm, camera_sample.sensor_width_mm,
                               plan.frame_width, plan.frame_height)
    out = []
    for x, y, depth in geometry.project_points(points, cam_to_world, intr):
        cx, cy = float(x - plan.x0), float(y - plan.y0)
        out.append((cx, cy, bool(depth > 0 and 0 <= cx < plan.width and 0 <= cy < plan.height)))
    return out


def view_to_world(x: float, y: float, rotation_deg: float, eye: np.ndarray) -> tuple[float, float, float]:
    """(x, y, rotation about Z) of a view-frame position for a camera at `eye`, the person at
    the origin: the view frame's +x points from the camera's ground point through the person."""
    away = math.atan2(-float(eye[1]), -float(eye[0]))
    c, s = math.cos(away), math.sin(away)
    return c * x - s * y, s * x + c * y, rotation_deg + math.degrees(away)
