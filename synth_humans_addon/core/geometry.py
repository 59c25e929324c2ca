"""Camera maths without Blender: the hemisphere segment, look-at, projection and crops.

World frame: Blender's, Z up, metres. The character stands at the origin facing −Y
(MakeHuman's front after the +90° X rotation), so azimuth 0° is a camera in front of it.
Camera frame: Blender's, looking down its local −Z with +Y up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def sample_segment_direction(xi1: float, xi2: float, theta1_deg: float, theta2_deg: float) -> tuple[float, float]:
    """Map two uniform numbers in [0, 1) to (azimuth°, θ°), uniform in area on the segment.

    Archimedes' hat-box theorem: the area of a spherical zone is proportional to its height,
    so a height z uniform in [cos θ2, cos θ1] and an azimuth uniform in [0, 2π) give points
    uniform in area between the polar angles θ1 < θ2.
    """
    azimuth = 360.0 * xi1
    z_low, z_high = math.cos(math.radians(theta2_deg)), math.cos(math.radians(theta1_deg))
    z = z_low + (z_high - z_low) * xi2
    theta = math.degrees(math.acos(max(-1.0, min(1.0, z))))
    return azimuth, theta


def spherical_to_cartesian(azimuth_deg: float, theta_deg: float, radius: float) -> np.ndarray:
    """Point on the sphere of `radius`; azimuth 0 is in front of the character (−Y), θ from +Z."""
    az, th = math.radians(azimuth_deg), math.radians(theta_deg)
    s = math.sin(th)
    # azimuth grows counter-clockwise seen from above, starting at −Y.
    return np.array([radius * s * math.sin(az), -radius * s * math.cos(az), radius * math.cos(th)])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """3×3 rotation whose columns are the camera's x, y, z axes in world space (camera looks down −z)."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    n = np.linalg.norm(forward)
    if n == 0:
        raise ValueError("camera position equals its target")
    forward /= n
    if abs(np.dot(forward, up)) > 0.999999:  # looking straight down or up: pick another up
        up = np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    return np.stack([right, true_up, -forward], axis=1)


def rotate_towards(rotation: np.ndarray, yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Apply a small yaw (about camera y) and pitch (about camera x) to a camera rotation: aim jitter."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    return rotation @ ry @ rx


def camera_matrix(eye: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """4×4 camera-to-world matrix (Blender's `matrix_world` of a camera object)."""
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = eye
    return m


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera with Blender's sensor fit AUTO: the sensor width spans the larger side."""

    focal_length_mm: float
    sensor_width_mm: float
    width_px: int
    height_px: int

    @property
    def focal_px(self) -> float:
        return self.focal_length_mm / self.sensor_width_mm * max(self.width_px, self.height_px)


def project_points(points_world: np.ndarray, cam_to_world: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Project world points to pixel coordinates (x right, y down from the top-left), plus depth.

    Returns an (N, 3) array: pixel x, pixel y, and depth along the view direction (> 0 in front).
    """
    pts = np.asarray(points_world, float).reshape(-1, 3)
    world_to_cam = np.linalg.inv(cam_to_world)
    pc = pts @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    depth = -pc[:, 2]
    f = intr.focal_px
    with np.errstate(divide="ignore", invalid="ignore"):
        x = intr.width_px / 2.0 + f * pc[:, 0] / depth
        y = intr.height_px / 2.0 - f * pc[:, 1] / depth
    return np.stack([x, y, depth], axis=1)


def box_corners(bmin: np.ndarray, bmax: np.ndarray) -> np.ndarray:
    """The eight corners of an axis-aligned box."""
    bmin, bmax = np.asarray(bmin, float), np.asarray(bmax, float)
    return np.array([[x, y, z] for x in (bmin[0], bmax[0]) for y in (bmin[1], bmax[1]) for z in (bmin[2], bmax[2])])


@dataclass(frozen=True)
class CropPlan:
    """How to render one crop: the full-frame resolution and the border inside it.

    The full frame is scaled so the person's projected box is `crop_height` pixels high,
    so the crop is rendered at its native resolution (no resampling afterwards).
    Border values are Blender's: fractions of the frame, y measured from the bottom.
    """

    frame_width: int
    frame_height: int
    x0: int  # pixel box in the full frame, top-left origin, end-exclusive
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def border(self) -> tuple[float, float, float, float]:
        """(min_x, max_x, min_y, max_y) as Blender's render border expects."""
        return (
            self.x0 / self.frame_width,
            self.x1 / self.frame_width,
            1.0 - self.y1 / self.frame_height,
            1.0 - self.y0 / self.frame_height,
        )


class CharacterOutOfFrame(ValueError):
    """The character's box is (partly) behind the camera: no crop can hold it."""


def plan_crop(points_world: np.ndarray, cam_to_world: np.ndarray, focal_length_mm: float, sensor_width_mm: float,
              crop_height: int, margin: float = 0.04, aspect: float = 1.0, box: Any = None) -> CropPlan:
    """Fit a render border around projected points so that the crop is `crop_height` px high.

    `aspect` is the full frame's width/height (only changes where the frame's edges lie).
    The frame is grown until it contains the whole box, so a character never leaves it.
    `box` (a `sampling.BoxSample`) turns the tight box into a detector-like one: cut at the
    head or feet, scaled, narrowed or widened, shifted, and given a fixed output aspect.
    """
    # Project at a reference resolution, then scale the frame so the box gets crop_height.
    ref_h = 1000
    ref_w = max(1, int(round(ref_h * aspect)))
    intr = Intrinsics(focal_length_mm, sensor_width_mm, ref_w, ref_h)
    proj = project_points(points_world, cam_to_world, intr)
    if np.any(proj[:, 2] <= 1e-6) or not np.all(np.isfinite(proj)):
        raise CharacterOutOfFrame("part of the character's bounding box is behind the camera")
    xmin, ymin = proj[:, 0].min(), proj[:, 1].min()
    xmax, ymax = proj[:, 0].max(), proj[:, 1].max()
    box_h = (ymax - ymin) * (1 + 2 * margin)
    box_w = (xmax - xmin) * (1 + 2 * margin)
    if box_h <= 0 or box_w <= 0:
        raise CharacterOutOfFrame("the character's projection is empty")
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    if box is not None:
        cx, cy, box_w, box_h = detector_box(cx, cy, box_w, box_h, ymax - ymin, box)
    scale = crop_height / box_h
    # Frame large enough to hold the box wherever it lies (the camera aims at the body,
    # but jitter and tall boxes can push it off-centre): grow it symmetrically.
    half_w_needed = max(abs(cx - box_w / 2 - ref_w / 2), abs(cx + box_w / 2 - ref_w / 2))
    half_h_needed = max(abs(cy - box_h / 2 - ref_h / 2), abs(cy + box_h / 2 - ref_h / 2))
    grow = max(1.0, 2 * half_w_needed / ref_w, 2 * half_h_needed / ref_h)
    # Growing the frame at fixed focal length widens the field of view; we instead keep the
    # field of view and change resolution, so growing means scaling the sensor-fit side.
    frame_h = int(math.ceil(ref_h * scale))
    frame_w = int(math.ceil(ref_w * scale))
    if grow > 1.0:
        raise CharacterOutOfFrame(
            f"the character's box reaches {grow:.2f}× beyond the frame; aim the camera at the body "
            "or lower camera.aim_jitter_deg"
        )
    x0 = int(math.floor((cx - box_w / 2) * scale))
    y0 = int(math.floor((cy - box_h / 2) * scale))
    x0 = max(0, min(x0, frame_w - 1))
    y0 = max(0, min(y0, frame_h - 1))
    x1 = max(x0 + 1, min(frame_w, x0 + int(round(box_w * scale))))
    y1 = max(y0 + 1, min(frame_h, y0 + crop_height))
    return CropPlan(frame_w, frame_h, x0, y0, x1, y1)


def detector_box(cx: float, cy: float, w: float, h: float, person_h: float, box: Any) -> tuple[float, float, float, float]:
    """(centre x, centre y, width, height) of a detector-like box from the tight one.

    Order: cut the top/bottom by fractions of the person's height `person_h` (a detector
    that missed the feet), scale both sides, scale the width (`aspect`), force the output
    height/width if set, then shift the centre by fractions of the final size. Image y
    grows downwards."""
    top, bottom = cy - h / 2 + box.cut_top * person_h, cy + h / 2 - box.cut_bottom * person_h
    cy, h = (top + bottom) / 2, max(bottom - top, 1e-6)
    h *= box.scale
    w *= box.scale * box.aspect
    if box.output_aspect > 0:
        w = h / box.output_aspect
    return cx + box.shift_x * w, cy + box.shift_y * h, w, h


def camera_id(azimuth_deg: float, theta_deg: float, mode: str, bins: int, theta1_deg: float, theta2_deg: float) -> int:
    """A meaningful Market-1501 camera id (1..bins) from the viewpoint.

    `azimuth`: bins of equal azimuth width centred on the front view (c1 = front);
    `elevation`: bins of equal height on the segment (c1 = highest);
    `azimuth_elevation`: azimuth bins for the upper half of the segment, then for the lower half
    (bins must then be even).
    """
    def az_bin(n: int) -> int:
        width = 360.0 / n
        return int(((azimuth_deg + width / 2.0) % 360.0) // width)

    def el_bin(n: int) -> int:
        z1, z2 = math.cos(math.radians(theta1_deg)), math.cos(math.radians(theta2_deg))
        z = math.cos(math.radians(theta_deg))
        t = 0.0 if z1 == z2 else (z1 - z) / (z1 - z2)
        return min(n - 1, max(0, int(t * n)))

    if mode == "azimuth":
        return 1 + az_bin(bins)
    if mode == "elevation":
        return 1 + el_bin(bins)
    if mode == "azimuth_elevation":
        half = max(1, bins // 2)
        return 1 + el_bin(2) * half + az_bin(half)
    raise ValueError(f"unknown camera id mode {mode!r}")
