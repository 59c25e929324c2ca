"""Walls, pillars, railings and benches around the person (`BackgroundSample.structures`).

Real crops show structure — walls, railings, pillars, benches — where ours showed flat
ground. Each `sampling.StructureSample` becomes one mesh of a few boxes (a railing: two
posts and two rails; a bench: a seat on two legs) with a rough, mottled diffuse material.
Unlike the room's walls, structures are solid for light: they cast shadows on the person
(sun and shade) and occlude it. They are not person objects, so the person's mask and
keypoint visibility see them as occluders, never as the person.

Structures are sampled in the view frame (behind the person = away from the camera) and
`place_structures` turns each image's copy around its camera, so a wall sampled behind the
person is behind the person in every view (crops are narrow: a wall at a random bearing would
rarely be in one). A wall, pillar or bench that still ends up between the camera and the
person's torso is hidden for that image (railings stay: one sees through them). The geometry
is numpy (`structure_mesh`, `place`, `blocks_view`) and testable without Blender.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

RAIL, POST = 0.05, 0.06  # metres: rail thickness, post width


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
    raise ValueError(f"unknown structure kind {s.kind!r}")


def place(s: Any, eye: np.ndarray) -> Any:
    """A copy of structure `s` in world coordinates for a camera at `eye` (the person at the
    origin): the view frame's +x points from the camera through the person."""
    import dataclasses

    away = math.atan2(-float(eye[1]), -float(eye[0]))
    c, si = math.cos(away), math.sin(away)
    return dataclasses.replace(s, x=c * s.x - si * s.y, y=si * s.x + c * s.y,
                               rotation_deg=s.rotation_deg + math.degrees(away))


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


# ---------------------------------------------------------------------------------------
# Blender side


def build_structures(scene, room, structures: list[Any]) -> list[Any]:
    """Create the structures' objects in `scene`, registered in `room` (freed with it)."""
    import bpy

    from ..core.palettes import hex_to_linear
    from . import scene as scene_mod

    objects = []
    for i, s in enumerate(structures):
        verts, faces = structure_mesh(s)
        mesh = bpy.data.meshes.new(f"sh_room_structure{i}")
        mesh.from_pydata(verts.tolist(), [], faces.tolist())
        mesh.update()
        mat = _rough_material(f"sh_room_structure{i}", hex_to_linear(s.color))
        room.materials.append(mat)
        mesh.materials.append(mat)
        obj = bpy.data.objects.new(f"sh_room_structure{i}_{s.kind}", mesh)
        obj.pass_index = 0
        scene_mod.link(scene, obj)
        room.objects.append(obj)
        objects.append(obj)
    return objects


def _rough_material(name: str, linear_rgb) -> Any:
    """Diffuse concrete/paint: the colour mottled ±25 % by a noise texture (no bump: cheap)."""
    import bpy

    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender < 5 creates materials without nodes
        mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF")
    bsdf.inputs["Roughness"].default_value = 0.95
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 4.0
    noise.inputs["Detail"].default_value = 4.0
    hsv = nt.nodes.new("ShaderNodeHueSaturation")
    hsv.inputs["Color"].default_value = (*linear_rgb, 1.0)
    gain = nt.nodes.new("ShaderNodeMath")
    gain.operation = "MULTIPLY_ADD"
    gain.inputs[1].default_value = 0.5
    gain.inputs[2].default_value = 0.75  # noise 0…1 → value × 0.75…1.25
    nt.links.new(noise.outputs["Fac"], gain.inputs[0])
    nt.links.new(gain.outputs["Value"], hsv.inputs["Value"])
    nt.links.new(hsv.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def place_structures(objects: list[Any], structures: list[Any], eye: np.ndarray, target: np.ndarray) -> int:
    """Place every structure around this image's camera `eye`, hiding (for this image) walls,
    pillars and benches that block the view of the person's `target` (torso); returns how
    many are hidden."""
    hidden = 0
    for obj, s in zip(objects, structures):
        w = place(s, eye)
        obj.location = (w.x, w.y, 0.0)
        obj.rotation_euler = (0.0, 0.0, math.radians(w.rotation_deg))
        block = s.kind != "railing" and blocks_view(w, eye, target)
        obj.hide_render = block
        hidden += block
    return hidden
