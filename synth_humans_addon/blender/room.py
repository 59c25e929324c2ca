"""The room around the character: a cuboid with coloured or cubemap walls, or a panorama world.

* `fixed` / `varied`: six diffuse faces coloured by `BackgroundSample.colors` (+X, −X, +Y,
  −Y, floor, ceiling). The walls only appear to camera rays: they neither cast shadows nor
  block world light, so sun and area lights reach the character through the closed room
  and the world colour acts as ambient light (fewer bounces needed, faster renders).
* `cubemap`: the six faces (posx … negz, Humus' naming, Y up) are shown on the walls as
  self-lit images; the cube is centred at eye height so the horizon lies where a person
  would see it, the floor is cut at z = 0, and the world light is the faces' mean colour.
* `equirectangular`: no room; the panorama is the world background and its light.

`rotation_deg` turns the environment about Z. Every datablock made here is named with the
`sh_room` prefix and removed by `remove_room` (or the job's DatablockTracker).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core import cubemaps
from ..core.palettes import hex_to_linear
from ..shapes.room import box_faces
from . import scene as scene_mod
from . import structures as structures_mod

EYE_HEIGHT = 1.6  # metres: where the horizon of a cubemap lies


class BackgroundError(RuntimeError):
    """A background that cannot be built (bad image, unknown kind); names the file or field."""


@dataclass
class Room:
    objects: list[Any] = field(default_factory=list)
    materials: list[Any] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    world: Any = None
    ambient: tuple[float, float, float] = (0.5, 0.5, 0.5)  # linear RGB of the world light (before strength)
    kind: str = ""
    structures: list[Any] = field(default_factory=list)  # objects of `background.structures`, in order


def build_room(scene: bpy.types.Scene, background: Any, spec: Any = None) -> Room:
    """Build the background of `scene` from a BackgroundSample."""
    kind = background.kind
    room = Room(kind=kind)
    room.world = bpy.data.worlds.new("sh_room_world")
    _ensure_nodes(room.world)
    scene.world = room.world
    if kind in ("fixed", "varied"):
        if len(background.colors) != 6:
            raise BackgroundError(f"background.colors: expected 6 wall colours, got {len(background.colors)}")
        _colour_room(scene, room, background)
    elif kind == "cubemap":
        folder = cubemaps.cubemap_folder(background.source, spec)
        # cubemap_folder already decoded user faces once (built-in ones are ours): no second check.
        _cubemap_room(scene, room, background, cubemaps.face_paths(folder, verify=False))
    elif kind == "equirectangular":
        path = spec.resolve_path(background.source) if spec is not None else Path(background.source)
        _panorama_world(room, path, background.rotation_deg)
    else:
        raise BackgroundError(f"background.kind: unknown kind {kind!r}")
    room.structures = structures_mod.build_structures(scene, room, getattr(background, "structures", []))
    set_world_strength(room, 1.0)
    return room


def set_world_strength(room: Room, strength: float) -> None:
    """World (ambient) light strength; the panorama or the ambient colour keeps its hue."""
    bg = room.world.node_tree.nodes.get("Background")
    if room.kind != "equirectangular":
        bg.inputs["Color"].default_value = (*room.ambient, 1.0)
    bg.inputs["Strength"].default_value = float(strength)


def remove_room(room: Room) -> None:
    ids = [*room.objects, *room.materials, *room.images]
    meshes = [o.data for o in room.objects if o.data is not None]
    if room.world is not None:
        ids.append(room.world)
    bpy.data.batch_remove(ids + meshes)
    room.objects.clear()


# ---------------------------------------------------------------------------------------


def _ensure_nodes(idblock) -> None:
    """Blender 5 gives new materials and worlds a node tree already (`use_nodes` is deprecated)."""
    if idblock.node_tree is None:
        idblock.use_nodes = True


def _make_face_object(scene, room: Room, name: str, corners, uvs, material) -> Any:
    mesh = bpy.data.meshes.new(f"sh_room_{name}")
    mesh.from_pydata([list(c) for c in corners], [], [[0, 1, 2, 3]])
    uv = mesh.uv_layers.new(name="UVMap")
    for i, loop in enumerate(mesh.loops):
        uv.data[loop.index].uv = uvs[loop.vertex_index]
    mesh.materials.append(material)
    obj = bpy.data.objects.new(f"sh_room_{name}", mesh)
    obj.pass_index = 0
    # Walls are backdrop only: light and world illumination pass through them.
    obj.visible_shadow = False
    obj.visible_diffuse = False
    obj.visible_glossy = False
    obj.visible_transmission = False
    obj.visible_volume_scatter = False
    scene_mod.link(scene, obj)
    room.objects.append(obj)
    return obj


def _rotate(obj, degrees: float) -> None:
    obj.rotation_euler = (0.0, 0.0, math.radians(degrees))


def _diffuse_material(name: str, color_hex: str) -> Any:
    mat = bpy.data.materials.new(name)
    _ensure_nodes(mat)
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (*hex_to_linear(color_hex), 1.0)
    bsdf.inputs["Roughness"].default_value = 0.9
    return mat


def _colour_room(scene, room: Room, background) -> None:
    size = float(background.room_size)
    faces = box_faces(size / 2, 0.0, size / 2)
    uvs = [(0, 0), (1, 0), (1, 1), (0, 1)]
    names = ("posx", "negx", "posy", "negy", "floor", "ceiling")
    for i, (name, corners) in enumerate(zip(names, faces)):
        mat = _diffuse_material(f"sh_room_{name}", background.colors[i])
        room.materials.append(mat)
        _rotate(_make_face_object(scene, room, name, corners, uvs, mat), background.rotation_deg)
    lin = np.array([hex_to_linear(c) for c in background.colors[:4]]).mean(axis=0)
    # Ambient light tinted by the walls but never black: a dark room still shows the person.
    room.ambient = tuple(float(v) for v in 0.5 * lin / max(lin.max(), 1e-3) * 0.6 + 0.2)


def _load_image(path: Path, room: Room) -> Any:
    try:
        img = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError as exc:
        raise BackgroundError(f"cannot read image {path}: {exc}") from None
    img.name = f"sh_room_{path.stem}"
    room.images.append(img)
    # Blender loads lazily: a broken file shows up as a 0×0 image, not as an exception.
    if img.size[0] == 0 or img.size[1] == 0:
        raise BackgroundError(f"image {path} is unreadable or empty")
    return img


def _emission_image_material(name: str, img, strength: float = 1.0) -> Any:
    mat = bpy.data.materials.new(name)
    _ensure_nodes(mat)
    nt = mat.node_tree
    nt.nodes.clear()
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.extension = "EXTEND"  # no bleeding of the opposite edge at the seams
    emit = nt.nodes.new("ShaderNodeEmission")
    emit.inputs["Strength"].default_value = strength
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(tex.outputs["Color"], emit.inputs["Color"])
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def _cubemap_room(scene, room: Room, background, faces: dict[str, Path]) -> None:
    size = float(background.room_size)
    half = size / 2
    z_bottom, z_top = EYE_HEIGHT - half, EYE_HEIGHT + half  # the full cube, centred at eye height
    z0 = 0.0  # but the floor is cut at ground level
    v0 = (z0 - z_bottom) / size  # the part of each side image below the ground is not shown
    side_uv = [(0, v0), (1, v0), (1, 1), (0, 1)]
    walls = {"posx": 0, "negx": 1, "negz": 2, "posz": 3}  # face → index in box_faces
    corners = box_faces(half, z0, z_top)
    means = []
    for face, idx in walls.items():
        img = _load_image(faces[face], room)
        means.append(_image_mean_srgb_to_linear(img))
        mat = _emission_image_material(f"sh_room_{face}", img)
        room.materials.append(mat)
        _rotate(_make_face_object(scene, room, face, corners[idx], side_uv, mat), background.rotation_deg)
    # Floor: the ground face, shrunk to where the floor plane meets the cube (seen from the eye).
    for face, idx, uvs in (("negy", 4, [(0, 1), (1, 1), (1, 0), (0, 0)]), ("posy", 5, [(0, 0), (1, 0), (1, 1), (0, 1)])):
        img = _load_image(faces[face], room)
        means.append(_image_mean_srgb_to_linear(img))
        mat = _emission_image_material(f"sh_room_{face}", img)
        room.materials.append(mat)
        _rotate(_make_face_object(scene, room, face, corners[idx], uvs, mat), background.rotation_deg)
    mean = np.mean(means, axis=0)
    room.ambient = tuple(float(v) for v in np.clip(mean, 0.05, 1.0))


def _image_mean_srgb_to_linear(img) -> np.ndarray:
    """Mean colour of an image in linear RGB (pixels of 8-bit images are sRGB-encoded)."""
    n = img.size[0] * img.size[1] * img.channels
    px = np.empty(n, np.float32)
    img.pixels.foreach_get(px)
    rgb = px.reshape(-1, img.channels)[::53, :3]
    if not img.is_float:
        rgb = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    if not np.isfinite(rgb).all():
        raise BackgroundError(f"image {img.filepath} holds non-finite pixels")
    return rgb.mean(axis=0)


def _panorama_world(room: Room, path: Path, rotation_deg: float) -> None:
    if not path.is_file():
        raise BackgroundError(f"background.equirectangular: file not found: {path}")
    img = _load_image(path, room)
    nt = room.world.node_tree
    bg = nt.nodes.get("Background")
    env = nt.nodes.new("ShaderNodeTexEnvironment")
    env.image = img
    mapping = nt.nodes.new("ShaderNodeMapping")
    coords = nt.nodes.new("ShaderNodeTexCoord")
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation_deg))
    nt.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    nt.links.new(env.outputs["Color"], bg.inputs["Color"])
    room.ambient = tuple(float(v) for v in _image_mean_srgb_to_linear(img))
