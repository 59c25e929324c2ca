"""One character in the scene: body (BODY helper), clothes/hair/accessories (CLOTHES helper), pose.

`build_character` is the single entry point that the render job, the add-on operators and
the preview command use. It builds once per character; `pose_character` then changes only
the pose per image (the expensive work — morphing, fitting clothes — is not repeated).

Keypoints are read from the armature's pose bones (`core.mpfb.bones.KEYPOINTS`, by role),
so they follow whatever pose is applied: walk cycle, procedural walk, standing or BVH.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from ..core.mpfb.bones import KEYPOINTS
from ..core.mpfb.phenotype import Phenotype
from . import body as body_mod
from . import clothes as clothes_mod
from .motion.pose import apply_pose

PERSON_PASS_INDEX = 1
log = logging.getLogger(__name__)

@dataclass
class CharacterBuild:
    """What `build_character` made: the body build, the outfit and the person's objects."""

    character: Any  # CharacterSample
    body: Any  # body.BodyBuild
    outfit: Any  # clothes.Outfit
    collection: Any
    pose_source: str = "rest"
    pose_error: str = ""  # why the sampled pose could not be applied (documented fallback)
    extra: list = field(default_factory=list)

    @property
    def armature(self):
        return self.body.armature

    def person_objects(self) -> list[Any]:
        """Every renderable object of the person (meshes and curves: body, clothes, hair, accessories)."""
        return [o for o in self.collection.all_objects if o.type in ("MESH", "CURVE", "SURFACE") and not o.hide_render]


def build_character(spec: Any, character: Any, scene: bpy.types.Scene | None = None, name: str = "",
                    pass_index: int = PERSON_PASS_INDEX) -> CharacterBuild:
    """Build body, clothes, hair and accessories of a CharacterSample in `scene` (rest pose).

    `character` may also be a `sampling.OtherPersonSample` (same looks and pose fields); other
    people get `name` (default p<pid>) and `pass_index` 0 so the index-pass mask leaves them out."""
    scene = scene or bpy.context.scene
    name = name or f"p{character.pid:04d}"
    coll = bpy.data.collections.new(f"sh_person_{name}")
    scene.collection.children.link(coll)
    phenotype = Phenotype.from_body_sample(character.body)
    build = body_mod.build_body(phenotype, character.body.skin_color, collection=coll, name=name)
    outfit = clothes_mod.dress(build, character)
    for obj in coll.all_objects:
        obj.pass_index = pass_index  # the mask is the index pass: every part of the person counts
    return CharacterBuild(character=character, body=build, outfit=outfit, collection=coll)


def pose_character(build: CharacterBuild, spec: Any, phase: float) -> None:
    """Apply the character's sampled pose source at `phase` (0…1 of the cycle or clip).

    If the pose cannot be applied (e.g. a BVH file whose bones do not map to the rig), the
    character falls back to the standing pose and `build.pose_error` says why; the render
    job records that in the image metadata rather than failing silently.
    """
    pose = build.character.pose
    bvh = str(spec.resolve_path(pose.bvh_file)) if pose.source == "bvh" and pose.bvh_file else None
    try:
        apply_pose(build.body, pose.source, float(phase), stride=pose.stride, arm_swing=pose.arm_swing,
                          bvh_file=bvh, variant=pose.variant)
        build.pose_source, build.pose_error = pose.source, ""
    except Exception as exc:  # a broken BVH must not kill a worker: stand instead, and say so
        if pose.source == "standing":
            raise
        apply_pose(build.body, "standing", float(phase), variant=pose.variant)
        build.pose_source, build.pose_error = "standing", f"{pose.source} failed: {exc}"
        log.warning("character %04d: %s; rendering the standing pose instead", build.character.pid, build.pose_error)


def keypoints_world(build: CharacterBuild) -> dict[str, np.ndarray]:
    """World positions of the main joints in the current pose."""
    arm = build.armature
    mw = np.array(arm.matrix_world)
    out = {}
    for name, (semantic, where) in KEYPOINTS.items():
        try:
            bone = arm.pose.bones[build.body.bone(semantic)]
        except KeyError:
            continue
        head, tail = np.array(bone.head), np.array(bone.tail)
        p = head if where == "head" else (head + tail) / 2
        out[name] = mw[:3, :3] @ p + mw[:3, 3]
    return out


def remove_character(build: CharacterBuild) -> None:
    """Free every datablock of the character (outfit first, then body, then its collection)."""
    clothes_mod.remove_outfit(build.outfit)
    body_mod.remove_body(build.body)
    leftovers = [o for o in build.collection.all_objects]
    if leftovers:
        bpy.data.batch_remove(leftovers)
    bpy.data.collections.remove(build.collection)
