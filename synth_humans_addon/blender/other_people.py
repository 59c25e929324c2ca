"""Other people in the target's images: passers-by behind it, occluders partly in front.

Real crops show neighbours, their arms and bags; ours showed one person alone. Each
`sampling.OtherPersonSample` is built once per character by the same builder as the target
(`character.build_character`), with pass index 0 and its own object names, so neither mask
source counts it as the person: the Cryptomatte mask names only the target's objects, and
the index-pass mask only pass index 1. Keypoint visibility treats it as an occluder.

Each is posed once, at its sample's phase, and then *frozen*: its skinned meshes are replaced
by their posed shape and lose their modifiers. Per image, `place_other_people` only moves its
armature (sampled in the view frame, `core.framing.view_to_world`). Why: a moved armature
re-evaluates every Armature modifier that reads it, and Cycles then re-exports those meshes;
a frozen person is a transform change only. Measured at 128 px on 2 cores: rendering with
1.5 others per person took 0.064 s per image posed per image, the same moved only, and
(see docs/results.md) much less frozen.
"""
from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np

from ..core.framing import view_to_world
from . import character as character_mod
from .body import _alive


# Cycles flattens moved objects into one BVH per image, so render time grows with every
# triangle in the scene: others, small or at the crop's edge, keep a fraction of theirs.
DECIMATE_ABOVE_FACES = 2000
DECIMATE_RATIO = 0.2


def build_other_people(spec: Any, scene: Any, others: list[Any]) -> list[Any]:
    """Build, pose and freeze every other person of a character (at the origin until placed)."""
    builds = []
    try:
        for i, other in enumerate(others):
            name = f"p{other.pid:04d}_{other.role}{i}"
            build = character_mod.build_character(spec, other, scene, name=name, pass_index=0)
            builds.append(build)
            character_mod.pose_character(build, spec, other.pose_phase)
            _freeze(build, scene)
    except BaseException:
        remove_other_people(builds)
        raise
    return builds


def _freeze(build: Any, scene: Any) -> None:
    """Bake every modified mesh of `build` to its evaluated (posed) shape and drop its
    modifiers; the new meshes go to `build.extra` (freed with the person). Objects keep their
    parent, so moving the armature still moves the whole person."""
    depsgraph = scene.view_layers[0].depsgraph
    depsgraph.update()
    frozen = [o for o in build.collection.all_objects if o.type == "MESH" and o.modifiers]
    for obj in frozen:
        if len(obj.data.polygons) > DECIMATE_ABOVE_FACES:
            obj.modifiers.new("decimate", "DECIMATE").ratio = DECIMATE_RATIO
    depsgraph.update()
    for obj in frozen:
        mesh = bpy.data.meshes.new_from_object(obj.evaluated_get(depsgraph), depsgraph=depsgraph)
        build.extra.append(mesh)
        obj.modifiers.clear()
        obj.data = mesh


def place_other_people(builds: list[Any], k: int, eye: np.ndarray) -> None:
    """Place every other person for image `k`, seen from the camera at `eye` (the height
    that grounded its pose is kept)."""
    for build in builds:
        p = build.character.placements[k % len(build.character.placements)]
        x, y, rotation = view_to_world(p.x, p.y, p.rotation_deg, eye)
        arm = build.armature
        arm.location = (x, y, arm.location.z)
        arm.rotation_euler = (0.0, 0.0, math.radians(rotation))


def remove_other_people(builds: list[Any]) -> None:
    for build in builds:
        character_mod.remove_character(build)
        meshes = [m for m in build.extra if _alive(m) and m.users == 0]  # removing objects may free them
        if meshes:
            bpy.data.batch_remove(meshes)
