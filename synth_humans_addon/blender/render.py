"""Cropped rendering: bounding box → crop plan → render border → image, mask, keypoints.

1. `person_box` evaluates every object of the person (armature and modifiers applied, so
   the current pose, clothes, hair and accessories all count) and takes the axis-aligned
   box of their vertices.
2. `core.framing.plan_image_crop` places the camera and plans the crop from that box (pure
   maths); `set_border` sets the full frame's resolution and the render border to the
   crop with crop-to-border, so Cycles only renders the person's rectangle.
3. `render_crop` renders; the compositor (see `scene.setup_outputs`) writes the colour
   image and the person mask (Cryptomatte matte of the person's objects, or the ID mask of
   the object index pass), both the crop's size.
4. `project_keypoints` projects joints into crop pixels (`framing.points_in_crop`), with
   visibility from a ray cast.
5. `encode_outputs` applies the camera-model post-processing and encodes JPEG + PNG.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core import framing, postprocess
from ..core.geometry import CharacterOutOfFrame, CropPlan
from ..core.mpfb.bones import keypoint_depth
from ..core.renderer import BlankRenderError
from . import scene as scene_mod

log = logging.getLogger(__name__)


def person_box(objects: list[Any], depsgraph: Any) -> tuple[np.ndarray, np.ndarray]:
    """World-space axis-aligned bounding box of the evaluated (posed) objects."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for obj in objects:
        ev = obj.evaluated_get(depsgraph)
        try:
            mesh = ev.to_mesh()
        except RuntimeError:
            continue
        try:
            n = len(mesh.vertices)
            if n == 0:
                continue
            co = np.empty(n * 3, np.float32)
            mesh.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3).astype(np.float64)
            finite = np.isfinite(co).all(axis=1)
            if not finite.all():  # a builder bug must not throw the whole crop away: skip and say so
                log.warning("%s: %d of %d vertices are not finite; left out of the person's box",
                            obj.name, int((~finite).sum()), n)
                co = co[finite]
                if len(co) == 0:
                    continue
            mw = np.array(ev.matrix_world)
            world = co @ mw[:3, :3].T + mw[:3, 3]
            lo, hi = np.minimum(lo, world.min(axis=0)), np.maximum(hi, world.max(axis=0))
        finally:
            ev.to_mesh_clear()
    if not np.all(np.isfinite(lo)):
        raise CharacterOutOfFrame("the character has no visible geometry")
    return lo, hi


def set_border(scene: bpy.types.Scene, plan: CropPlan, crop: bool = True) -> None:
    """Full-frame resolution from the plan and, with `crop`, the render border around the person."""
    r = scene.render
    r.resolution_x, r.resolution_y = plan.frame_width, plan.frame_height
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.use_border = crop
    r.use_crop_to_border = crop
    if crop:
        # Blender truncates border × resolution to whole pixels (and stores the border as
        # float32): shift every edge by a hundredth of a pixel so each lands on its own pixel.
        ex, ey = 0.01 / plan.frame_width, 0.01 / plan.frame_height
        x0, x1, y0, y1 = plan.border
        r.border_min_x, r.border_max_x = x0 + ex, min(1.0, x1 + ex)
        r.border_min_y, r.border_max_y = y0 + ey, min(1.0, y1 + ey)


@contextlib.contextmanager
def quiet_stdout():
    """Blender's C code prints a "Saved: <file>" line per compositor output on every render;
    a preview or a worker would print thousands. Point file descriptor 1 at /dev/null
    meanwhile (Python-level redirection cannot catch C output). Errors still reach stderr."""
    if os.environ.get("SYNTH_HUMANS_RENDER_LOG"):
        yield
        return
    fd = 1  # the process's standard output, where Blender's C code writes (whatever sys.stdout is now)
    try:
        sys.stdout.flush()
        saved = os.dup(fd)
    except OSError:  # no standard output at all: nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def render_crop(scene: bpy.types.Scene, outputs: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Render the scene; returns (RGB uint8 (H, W, 3), mask uint8 (H, W)) from the compositor files."""
    from PIL import Image

    for p in outputs.values():
        p.unlink(missing_ok=True)
    with quiet_stdout():
        bpy.ops.render.render(write_still=False, scene=scene.name)
    missing = [str(p) for p in outputs.values() if not p.is_file()]
    if missing:
        raise BlankRenderError(f"the render wrote no output ({', '.join(missing)}); is the compositor enabled?")
    with Image.open(outputs[scene_mod.IMAGE_SLOT]) as im:
        rgb = np.asarray(im.convert("RGB")).copy()
    with Image.open(outputs[scene_mod.MASK_SLOT]) as im:
        mask = np.asarray(im.convert("L")).copy()
    return rgb, mask


def project_keypoints(scene: bpy.types.Scene, depsgraph: Any, joints: dict[str, np.ndarray],
                      cam_to_world: np.ndarray, camera_sample: Any, plan: CropPlan,
                      person: set[str]) -> dict[str, list[float]]:
    """Joints in crop pixels: {name: [x, y, visible]}; visible = 1 if inside the crop and unoccluded.

    A joint counts as visible when the first surface on the ray from the camera lies no more
    than the joint's depth under the skin (`core.mpfb.bones.KEYPOINT_DEPTH`) in front of it (joints are inside the body, so the
    person's own skin over the joint does not hide it, but the torso in front of a far arm does).
    """
    from mathutils import Vector

    if not joints:
        return {}
    names = list(joints)
    pts = np.array([joints[n] for n in names])
    in_crop = framing.points_in_crop(pts, cam_to_world, camera_sample, plan)
    eye = cam_to_world[:3, 3]
    out: dict[str, list[float]] = {}
    for name, p, (cx, cy, inside) in zip(names, pts, in_crop):
        visible = False
        if inside:
            d = p - eye
            dist = float(np.linalg.norm(d))
            hit, loc, _n, _i, _obj, _m = scene.ray_cast(depsgraph, Vector(eye.tolist()), Vector((d / dist).tolist()),
                                                       distance=dist)
            depth_below_surface = keypoint_depth(name)
            visible = (not hit) or float(np.linalg.norm(np.array(loc) - eye)) >= dist - depth_below_surface
        out[name] = [round(cx, 2), round(cy, 2), 1 if visible else 0]
    return out


def encode_outputs(rgb: np.ndarray, mask: np.ndarray, post: Any) -> tuple[bytes, bytes]:
    """Post-process the colour image (camera model) and encode: (JPEG bytes, mask PNG bytes)."""
    degraded = postprocess.apply_postprocess(rgb, post)
    return postprocess.encode_jpeg(degraded, post.jpeg_quality), postprocess.encode_png(mask)


class Timer:
    """Collects named durations for an image's metadata (`timings` in the info dict)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = round(self.times.get(name, 0.0) + now - self._t, 4)
        self._t = now
