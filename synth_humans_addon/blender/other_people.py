"""Other people in the target's images: passers-by behind it, occluders partly in front.

Real crops show neighbours, their arms and bags; ours showed one person alone. Each
`sampling.OtherPersonSample` is a member of the dataset's pool of other people, built by the
same builder as the target (`character.build_character`) with pass index 0 and its own
object names, so neither mask source counts it as the person: the Cryptomatte mask names
only the target's objects, and the index-pass mask only pass index 1. Keypoint visibility
treats it as an occluder.

Cost is what shapes this module (issue 14: structures and people may add at most 30 % per
image). Building a person costs about twice a character's own setup, so `OtherPeople` keeps
every member it built for the whole render session and links into the scene only those of
the current image (an unlinked collection is outside the depsgraph). Each member is posed
once and *frozen*: its skinned meshes become their posed shape, decimated to a fifth,
without modifiers. Per image only its armature moves (placements are sampled in the view
frame, `core.framing.view_to_world`). Why: a moved armature re-evaluates every Armature
modifier that reads it, and Cycles rebuilds its BVH after anything moves, so unfrozen others
cost render time in every image, even out of the crop.

Measured (docs/generator.md): moving the same members through a character's images costs
1.23× the same spec without others per image; linking a different set per image, as now,
1.71×, over that budget. Linking all of a character's members (about 12 with one passer-by
and half an occluder per image) once and keeping the absent ones out of view cost more: parked
behind the camera 1.8×, invisible to every ray 2.4×; even all of them linked and never
visible cost 1.46×. Nor is it the object count: each member joined into one mesh object and
decimated to 5 % cost 1.86× in `bench_render.py`. A profile of the kept design puts the extra
time in the view-layer updates around each render (relinking rebuilds the depsgraph's
relations) and in Cycles' render call itself.
"""
from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np

from ..core.framing import view_to_world
from . import character as character_mod
from .body import _alive


# Others are small or at the crop's edge: a fifth of their triangles is plenty. (At 128 px
# the render-time gain over a ratio of 0.07 or of 1 stayed within the machine's noise.)
DECIMATE_ABOVE_FACES = 2000
DECIMATE_RATIO = 0.2


class OtherPeople:
    """The pool members a render session has built (by pool index), reused across characters."""

    def __init__(self, spec: Any, scene: Any) -> None:
        self.spec, self.scene = spec, scene
        self.built: dict[int, Any] = {}  # pool index → frozen CharacterBuild
        self.shown: list[tuple[Any, Any]] = []  # (build, this character's OtherPersonSample)

    def show(self, others: list[Any]) -> list[tuple[Any, Any]]:
        """Make sure every member in `others` (one character's) is built, and unlink everyone
        from the scene: `place` links those of each image."""
        self.hide()
        for other in others:
            if other.pool_index not in self.built:
                build = self.built[other.pool_index] = _build_frozen(self.spec, self.scene, other)
                self.scene.collection.children.unlink(build.collection)
            self.shown.append((self.built[other.pool_index], other))
        return self.shown

    def place(self, k: int, eye: np.ndarray) -> None:
        """Link and place the members in image `k`, seen from the camera at `eye` (the height
        that grounded each pose is kept); unlink the others."""
        linked = self.scene.collection.children
        for build, other in self.shown:
            p = other.placements[k] if k < len(other.placements) else None
            if p is None:
                if build.collection.name in linked:
                    linked.unlink(build.collection)
                continue
            if build.collection.name not in linked:
                linked.link(build.collection)
            x, y, rotation = view_to_world(p.x, p.y, p.rotation_deg, eye)
            arm = build.armature
            arm.location = (x, y, arm.location.z)
            arm.rotation_euler = (0.0, 0.0, math.radians(rotation))

    def hide(self) -> None:
        linked = self.scene.collection.children
        for build, _ in self.shown:
            if build.collection.name in linked:
                linked.unlink(build.collection)
        self.shown = []

    def close(self) -> None:
        """Free every member built (the session ends)."""
        self.hide()
        for build in self.built.values():
            _remove(build)
        self.built.clear()


def _build_frozen(spec: Any, scene: Any, other: Any) -> Any:
    build = character_mod.build_character(spec, other, scene, name=f"other{other.pool_index:03d}", pass_index=0)
    try:
        character_mod.pose_character(build, spec, other.pose_phase)
        _freeze(build, scene)
    except BaseException:
        _remove(build)
        raise
    return build


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


def _remove(build: Any) -> None:
    character_mod.remove_character(build)
    meshes = [m for m in build.extra if _alive(m) and m.users == 0]  # removing objects may free them
    if meshes:
        bpy.data.batch_remove(meshes)
