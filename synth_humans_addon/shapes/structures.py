"""The shapes of walls, pillars, railings, benches, stairs and doorways around the person
(`BackgroundSample.structures`).

Each `sampling.StructureSample` is a few boxes (a railing: two posts and two rails; a bench:
a seat on two legs; stairs: one box per step; a doorway: two jambs and a lintel):
`structure_mesh`. Structures are sampled in the view frame (behind the
person = away from the camera) and `place` turns each image's copy around its camera, so a
wall sampled behind the person is behind the person in every view (crops are narrow: a wall
at a random bearing would rarely be in one). `blocks_view` says whether one stands between
the camera and the person's torso. Numpy only; `blender/structures.py` builds the objects.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.framing import view_to_world

RAIL, POST = 0.05, 0.06  # metres: rail thickness, post width
STEP_RISE = 0.17  # metres: the usual rise of one step
DOOR_WIDTH, DOOR_HEIGHT = 1.0, 2.1  # metres: the opening of a doorway (narrower walls keep 0.3 m jambs)


def structure_boxes(s: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(centre, size) of each box of a structure in its own frame: width along x, depth
    along y, standing on z = 0."""
    w, h, d = s.width, s.height, s.depth
    if s.kind in ("wall", "pillar"):
        return [(np.array([0, 0, h / 2]), np.array([w, d, h]))]
    if s.kind == "railing":
        posts = [(np.array([x, 0, h / 2]), np.array([POST, POST, h])) for x in (-w / 2 + POST, w / 2 - POST)]
        rails = [(np.array([0, 0, z]), np.array([w, d, RAIL])) for z in (h - RAIL / 2, h * 0.5)]
        return posts + rails
    if s.kind == "bench":
        seat = (np.array([0, 0, h - 0.03]), np.array([w, d, 0.06]))
        legs = [(np.array([x, 0, (h - 0.06) / 2]), np.array([0.06, d * 0.9, h - 0.06])) for x in (-w / 2 + 0.15, w / 2 - 0.15)]
        return [seat] + legs
    if s.kind == "stairs":  # steps rise along +y, each a box from the ground up to its tread
        n = max(2, round(h / STEP_RISE))
        run = d / n
        return [(np.array([0, -d / 2 + (i + 0.5) * run, (i + 1) * h / n / 2]), np.array([w, run, (i + 1) * h / n]))
                for i in range(n)]
    if s.kind == "doorway":
        opening = min(DOOR_WIDTH, w - 0.6)
        jamb = (w - opening) / 2
        door_h = min(DOOR_HEIGHT, h - 0.2)
        jambs = [(np.array([x, 0, h / 2]), np.array([jamb, d, h])) for x in (-(opening + jamb) / 2, (opening + jamb) / 2)]
        return jambs + [(np.array([0, 0, (door_h + h) / 2]), np.array([opening, d, h - door_h]))]
    raise ValueError(f"unknown structure kind {s.kind!r}")


def place(s: Any, eye: np.ndarray) -> Any:
    """A copy of structure `s` in world coordinates for a camera at `eye` (the person at the
    origin): the view frame's +x points from the camera through the person."""
    import dataclasses

    x, y, rotation = view_to_world(s.x, s.y, s.rotation_deg, eye)
    return dataclasses.replace(s, x=x, y=y, rotation_deg=rotation)


def _to_local(s: Any, points: np.ndarray) -> np.ndarray:
    a = math.radians(s.rotation_deg)
    c, si = math.cos(a), math.sin(a)
    rot = np.array([[c, -si, 0], [si, c, 0], [0, 0, 1]])
    return (points - np.array([s.x, s.y, 0.0])) @ rot


def structure_mesh(s: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n, 3, in the structure's own frame) and quads (m, 4) of a structure."""
    corners = np.array([[x, y, z] for z in (-0.5, 0.5) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
    quads = np.array([[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]])
    verts, faces = [], []
    for centre, size in structure_boxes(s):
        faces.append(quads + 8 * len(verts))
        verts.append(centre + corners * size)
    return np.concatenate(verts), np.concatenate(faces)


def blocks_view(s: Any, eye: np.ndarray, target: np.ndarray, clearance: float = 0.25) -> bool:
    """True when the segment from the camera `eye` to `target` (the person's torso) passes
    through the structure's bounding box grown by `clearance` metres sideways."""
    p0, p1 = _to_local(s, np.asarray(eye, float)[None])[0], _to_local(s, np.asarray(target, float)[None])[0]
    lo = np.array([-s.width / 2 - clearance, -s.depth / 2 - clearance, 0.0])
    hi = np.array([s.width / 2 + clearance, s.depth / 2 + clearance, s.height])
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for k in range(3):  # slab test
        if abs(d[k]) < 1e-12:
            if not lo[k] <= p0[k] <= hi[k]:
                return False
            continue
        a, b = (lo[k] - p0[k]) / d[k], (hi[k] - p0[k]) / d[k]
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 > t1:
            return False
    return True

