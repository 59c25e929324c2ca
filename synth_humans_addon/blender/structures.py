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
is numpy (`shapes/structures.py`: `structure_mesh`, `place`, `blocks_view`) and testable
without Blender; this module only builds, places and hides the objects.
"""
from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np

from ..core.palettes import hex_to_linear
from ..shapes.structures import blocks_view, place, structure_mesh
from . import scene as scene_mod


def build_structures(scene, room, structures: list[Any]) -> list[Any]:
    """Create the structures' objects in `scene`, registered in `room` (freed with it)."""
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
