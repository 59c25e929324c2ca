"""Impostor cards: a built person rendered once into an RGBA image, shown as a textured cut-out.

Other people cost render time in every image they are linked into, whatever their pixels
(docs/generator.md: a member of ~10 objects with garment shaders, even decimated, cost the
same as a full one). A card is one object with one small image texture, so a session's whole
pool can stay in the scene: a member absent from an image is parked under the floor.

The studio renders the member alone, lit by a uniform white world, on a transparent film,
orthographic and level, from the side its placement turns to the camera; "Standard" view
transform, so the PNG holds the member's colours as they would look under even light. In
the target's scene the card is a lit matte surface: the scene's own light shades it.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..shapes.card import card_mesh
from . import render as render_mod

CARD_HEIGHT_PX = 192  # a passer-by fills at most a crop's height; an occluder is cut by the crop
CARD_SAMPLES = 16
CARD_CELL_PX = 4  # cut-out cells (shapes.card): a joint may be called hidden up to 1 cell (~4 cm) off
PARKED_Z = -1000.0  # a card absent from an image waits here, below the floor and out of every view


@dataclass
class Card:
    obj: Any
    mesh: Any
    material: Any
    image: Any

    def remove(self) -> None:
        bpy.data.batch_remove([self.obj, self.mesh, self.material, self.image])


class CardStudio:
    """The scene a session renders its cards in (made on first use, freed by `close`)."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self.scene: Any = None
        self.world: Any = None
        self.camera: Any = None

    def _open(self) -> None:
        scene = self.scene = bpy.data.scenes.new("sh_card_studio")
        r = scene.render
        r.engine = "CYCLES"
        r.film_transparent = True
        r.resolution_percentage = 100
        r.use_compositing = False
        r.use_sequencer = False
        r.image_settings.file_format = "PNG"
        r.image_settings.color_mode = "RGBA"
        r.threads_mode = "FIXED" if self.threads > 0 else "AUTO"
        if self.threads > 0:
            r.threads = self.threads
        scene.view_settings.view_transform = "Standard"
        c = scene.cycles
        c.device = "CPU"
        c.samples = CARD_SAMPLES
        c.use_denoising = True
        c.max_bounces = 2
        world = self.world = bpy.data.worlds.new("sh_card_studio_world")
        if world.node_tree is None:  # Blender 5 gives new worlds a node tree already
            world.use_nodes = True
        background = world.node_tree.nodes.get("Background")
        background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
        background.inputs["Strength"].default_value = 1.0
        scene.world = world
        cam_data = bpy.data.cameras.new("sh_card_camera")
        cam_data.type = "ORTHO"
        self.camera = bpy.data.objects.new("sh_card_camera", cam_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera

    def shoot(self, collection: Any, lo: np.ndarray, hi: np.ndarray, name: str, pass_index: int = 0) -> Card:
        """Render the person in `collection` (built and posed, linked into no other scene; its
        box `lo`–`hi`) seen along +X and return its card in the same frame."""
        if self.scene is None:
            self._open()
        pad = 0.02 * (hi[2] - lo[2])
        width, height = (hi[1] - lo[1]) + 2 * pad, (hi[2] - lo[2]) + 2 * pad
        px_h = CARD_HEIGHT_PX
        px_w = max(8, int(round(px_h * width / height)))
        width = height * px_w / px_h  # square pixels
        cy, cz = (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2
        r = self.scene.render
        r.resolution_x, r.resolution_y = px_w, px_h
        self.camera.data.ortho_scale = max(width, height)
        self.camera.location = (lo[0] - 10.0, cy, cz)
        self.camera.rotation_euler = (math.pi / 2, 0.0, -math.pi / 2)  # level, looking along +X
        self.camera.data.clip_end = 100.0
        self.scene.collection.children.link(collection)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "card.png"
                r.filepath = str(path)
                with render_mod.quiet_stdout():
                    bpy.ops.render.render(write_still=True, scene=self.scene.name)
                image = bpy.data.images.load(str(path))
                image.pack()
        finally:
            self.scene.collection.children.unlink(collection)
        image.name = f"sh_card_{name}"
        image.alpha_mode = "STRAIGHT"
        pixels = np.empty(px_w * px_h * 4, np.float32)
        image.pixels.foreach_get(pixels)
        alpha = pixels.reshape(px_h, px_w, 4)[::-1, :, 3]  # Blender's rows start at the bottom
        left, bottom = cy + width / 2, cz - height / 2  # image right is -Y seen along +X
        return _card_object(name, image, alpha, left, bottom, width, height, pass_index)

    def close(self) -> None:
        if self.scene is None:
            return
        cam_data = self.camera.data
        bpy.data.objects.remove(self.camera)
        bpy.data.cameras.remove(cam_data)
        bpy.data.scenes.remove(self.scene)
        bpy.data.worlds.remove(self.world)
        self.scene = self.world = self.camera = None


def _card_object(name: str, image: Any, alpha: np.ndarray, left: float, bottom: float, width: float,
                 height: float, pass_index: int) -> Card:
    cm = card_mesh(alpha, cell=CARD_CELL_PX)
    verts = np.zeros((len(cm.uv), 3))
    verts[:, 1] = left - cm.uv[:, 0] * width
    verts[:, 2] = bottom + cm.uv[:, 1] * height
    mesh = bpy.data.meshes.new(f"sh_card_{name}")
    mesh.from_pydata(verts.tolist(), [], cm.quads.tolist())
    uv_layer = mesh.uv_layers.new(name="UVMap")
    loop_vertex = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", loop_vertex)
    uv_layer.data.foreach_set("uv", cm.uv[loop_vertex].astype(np.float32).ravel())
    mesh.update()
    material = _card_material(name, image)
    mesh.materials.append(material)
    obj = bpy.data.objects.new(f"sh_card_{name}", mesh)
    obj.pass_index = pass_index
    obj.location = (0.0, 0.0, PARKED_Z)
    return Card(obj=obj, mesh=mesh, material=material, image=image)


def _card_material(name: str, image: Any) -> Any:
    """Matte: the texture's colour lit by the scene, its alpha the outline."""
    material = bpy.data.materials.new(f"sh_card_{name}")
    if material.node_tree is None:  # Blender 5 gives new materials a node tree already
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Linear"
    tex.extension = "CLIP"
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = 1.0
    bsdf.inputs["Specular IOR Level"].default_value = 0.1
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return material
