"""Dress a built body: tops, trousers/shorts, skirts, shoes, hair and accessories.

`dress(build, character)` creates every garment of a `sampling.CharacterSample` on a body
from `body.build_body` and returns an `Outfit`; `remove_outfit` frees all of it.

Garments are cut from the base mesh's ``helper-tights`` (by body region and limb length,
see `shapes/garment_regions.py`) and ``helper-skirt``, on the *morphed* vertices of this body, pushed
a few millimetres out along the normals (more for outer layers, so a T-shirt lies over the
trousers' waistband and a jacket over everything), and skinned with the rig's own weights
of those base vertices: they follow every body shape and every pose with no manual fitting.
Body skin under opaque garments is hidden in renders with a Mask modifier so it cannot poke
through at bent elbows and knees.

Hair (`add_hair`) and accessories (`add_accessory`) are built from their shapes the same
way: the cap of the hair follows the head bone, curtain and ponytail rows below the neck
blend to the chest bone (`HairPart.head_weight`) so long hair stays on the back when the
torso turns; each accessory part is parented rigidly to a bone (semantic names via
`core.mpfb.bones.bone_name`), straps and lenses in a darker shade of its colour. All shapes are numpy,
in `shapes/`; this module only makes the Blender objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import bpy

from ..core.mpfb.bones import bone_name
from ..core.mpfb.phenotype import body_vertices
from ..core.mpfb.rig import Rig, load_rig
from ..core.palettes import hex_to_srgb, srgb_to_hex
from ..shapes import garment_regions as gr
from ..shapes.accessories import accessory_geometry, accessory_side
from ..shapes.garments import covered_base_vertices, garment_mesh
from ..shapes.hair import hair_clearance, hair_geometry, style_variation
from . import materials
from .skinned_mesh import mesh_object, parent_to_bone, remove_objects, skin_by_weights, skin_from_rig

HIDDEN_SKIN_GROUP = "hidden-under-clothes"


@dataclass
class Outfit:
    """Everything `dress` created, so it can be freed exactly."""

    objects: list[bpy.types.Object] = field(default_factory=list)
    materials: list[bpy.types.Material] = field(default_factory=list)
    body_object: Any = None  # the body whose skin got a mask (restored by remove_outfit)
    by_role: dict[str, bpy.types.Object] = field(default_factory=dict)  # "top", "bottom", "shoes", "hair", "backpack" …
    hair_clearance: float = 0.0  # how far the hair stands off the scalp (headwear sits over it)


@dataclass(frozen=True)
class BodyContext:
    """What dressing needs from a built body, whatever the body module calls it."""

    vertices: np.ndarray  # all base-mesh vertices, morphed, rest pose, Blender frame
    rig: Rig
    armature: bpy.types.Object | None
    body: bpy.types.Object | None
    collection: Any
    body_source: np.ndarray | None  # base-mesh id of each body-object vertex


def body_context(build) -> BodyContext:
    """Read the morphed vertices, rig, armature and body object off a `BodyBuild`.

    Raises TypeError naming what is missing, so an API mismatch fails loudly.
    """
    verts = _first_attr(build, ("vertices", "verts", "base_vertices"))
    if verts is None:
        phenotype = _first_attr(build, ("phenotype",))
        if phenotype is None:
            raise TypeError("dress(build, …): build has neither `vertices` nor `phenotype`")
        verts = body_vertices(phenotype)
    rig = _first_attr(build, ("rig",))
    if rig is None:
        rig = load_rig(_first_attr(build, ("rig_name",)) or "default_no_toes", np.asarray(verts))
    body = _first_attr(build, ("body", "body_object", "mesh", "mesh_object"))
    source = _first_attr(build, ("body_base_indices", "body_source", "base_indices"))
    return BodyContext(
        vertices=np.asarray(verts, dtype=np.float64), rig=rig,
        armature=_first_attr(build, ("armature", "armature_object", "rig_object")), body=body,
        collection=_first_attr(build, ("collection",)) or (body.users_collection[0] if body is not None else None),
        body_source=None if source is None else np.asarray(source),
    )


def _first_attr(obj, names):
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v
    return None


# ---------------------------------------------------------------------------------------
# Dressing
# ---------------------------------------------------------------------------------------

def _skin(obj, ctx: BodyContext, source: np.ndarray) -> None:
    if ctx.armature is None:
        return
    skin_from_rig(obj, ctx.rig, source, ctx.armature)


def add_garment(outfit: Outfit, ctx: BodyContext, role: str, garment, layout: gr.TightsLayout | None = None,
                name_prefix: str = "", under_top: str | None = None) -> bpy.types.Object:
    """Build one garment (`sampling.GarmentSample`) and register it in `outfit` under `role`."""
    sub = garment_mesh(garment.kind, ctx.vertices, garment.seed, layout, under_top)
    mat = materials.garment_material(garment, name=f"{name_prefix}{garment.kind}")
    outfit.materials.append(mat)
    obj = mesh_object(f"{name_prefix}{garment.kind}", sub.vertices, sub.faces, ctx.collection, mat)
    outfit.objects.append(obj)
    outfit.by_role[role] = obj
    _skin(obj, ctx, sub.source)
    return obj


def add_hair(outfit: Outfit, ctx: BodyContext, hair, name_prefix: str = "") -> list[bpy.types.Object]:
    """Create the hair meshes of a `sampling.HairSample` on a dressed body; returns the objects."""
    variation = style_variation(hair)
    volume, ragged = float(getattr(hair, "volume", 1.0)), float(getattr(hair, "ragged", 0.0))
    parts = hair_geometry(ctx.vertices, hair.style, variation, volume, ragged)
    outfit.hair_clearance = hair_clearance(ctx.vertices, hair.style, variation, volume)
    mat = materials.hair_material(hair.color, name=f"{name_prefix}hair")
    outfit.materials.append(mat)
    objects = []
    for part in parts:
        obj = mesh_object(f"{name_prefix}hair-{part.name}", part.vertices, part.faces, ctx.collection, mat)
        if ctx.armature is not None:
            head = bone_name(ctx.rig, "head")
            chest = bone_name(ctx.rig, "upper_chest")
            skin_by_weights(obj, ctx.armature, {head: part.head_weight, chest: 1.0 - part.head_weight})
        outfit.objects.append(obj)
        objects.append(obj)
    outfit.by_role["hair"] = objects[0]
    return objects


def add_accessory(outfit: Outfit, ctx: BodyContext, accessory, name_prefix: str = "") -> list[bpy.types.Object]:
    """Create an accessory (`sampling.AccessorySample`) on a dressed body; returns its objects."""
    clearance = getattr(outfit, "hair_clearance", 0.0)  # set by add_hair (hair is added first)
    side = accessory_side(accessory.color)
    parts = accessory_geometry(ctx.vertices, accessory.kind, clearance, side)
    mats: dict[float, object] = {}
    objects = []
    for part in parts:
        if part.shade not in mats:
            color = accessory.color if part.shade == 1.0 else _shade(accessory.color, part.shade)
            mats[part.shade] = materials.accessory_material(accessory.kind, color,
                                                            name=f"{name_prefix}{accessory.kind}-{part.shade:g}")
            outfit.materials.append(mats[part.shade])
        obj = mesh_object(f"{name_prefix}{accessory.kind}-{part.name}", part.vertices, part.faces,
                          ctx.collection, mats[part.shade])
        if ctx.armature is not None:
            parent_to_bone(obj, ctx.armature, bone_name(ctx.rig, part.bone))
        outfit.objects.append(obj)
        objects.append(obj)
    outfit.by_role[accessory.kind] = objects[0]
    return objects


def _shade(hex_color: str, factor: float) -> str:
    return srgb_to_hex([c * factor for c in hex_to_srgb(hex_color)])


def dress(build, character, hide_skin: bool = True) -> Outfit:
    """Create the top, bottom, shoes, hair and accessories of `character` on `build`.

    `character` is a `sampling.CharacterSample` (only its `top`, `bottom`, `shoes`, `hair`,
    `accessories` fields are read). Every object gets pass_index 1 (the person mask) and
    follows the armature. On error, whatever was already created is freed before re-raising.
    """
    ctx = body_context(build)
    outfit = Outfit()
    prefix = f"{getattr(character, 'pid', 0):04d}-"
    try:
        layout = gr.tights_layout(ctx.vertices)
        for role in ("bottom", "top", "shoes"):
            garment = getattr(character, role)
            if garment is not None:
                top = character.top.kind if role == "bottom" and character.top is not None else None
                add_garment(outfit, ctx, role, garment, layout, prefix, under_top=top)
        if character.hair is not None:
            add_hair(outfit, ctx, character.hair, prefix)
        for a in character.accessories:
            add_accessory(outfit, ctx, a, prefix)
        if hide_skin:
            hide_covered_skin(outfit, ctx, character)
    except Exception:
        remove_outfit(outfit)
        raise
    return outfit


def hide_covered_skin(outfit: Outfit, ctx: BodyContext, character) -> None:
    """Mask the body's skin under opaque garments (a vertex group + an inverted Mask modifier)."""
    body = ctx.body
    if body is None or body.type != "MESH":
        return
    hidden = covered_base_vertices(ctx.vertices, character)
    if len(hidden) == 0:
        return
    source = ctx.body_source
    if source is None:
        if len(body.data.vertices) != len(ctx.vertices):
            return  # cannot map base ids to this body's vertices: leave the skin alone
        source = np.arange(len(ctx.vertices))
    lookup = np.full(len(ctx.vertices), -1, dtype=np.int64)
    lookup[source] = np.arange(len(source))
    local = lookup[hidden]
    local = local[local >= 0]
    if len(local) == 0:
        return
    group = body.vertex_groups.get(HIDDEN_SKIN_GROUP) or body.vertex_groups.new(name=HIDDEN_SKIN_GROUP)
    group.add(local.tolist(), 1.0, "REPLACE")
    mod = body.modifiers.new(HIDDEN_SKIN_GROUP, "MASK")
    mod.vertex_group = HIDDEN_SKIN_GROUP
    mod.invert_vertex_group = True
    # Renders only: the viewport depsgraph (what `evaluated_depsgraph_get` returns, used by
    # motion.ground to put the lowest skin vertex on the floor, and by the crop's person
    # box) keeps the whole body, or a fully dressed person would be grounded by the hands.
    mod.show_viewport = False
    mod.show_render = True
    outfit.body_object = body


def remove_outfit(outfit: Outfit) -> None:
    """Free every object, mesh and material of an outfit and undo the skin mask."""
    body = outfit.body_object
    if body is not None:
        try:
            mod = body.modifiers.get(HIDDEN_SKIN_GROUP)
            if mod is not None:
                body.modifiers.remove(mod)
            group = body.vertex_groups.get(HIDDEN_SKIN_GROUP)
            if group is not None:
                body.vertex_groups.remove(group)
        except ReferenceError:  # the body was freed first
            pass
    remove_objects(outfit.objects)
    materials.remove_materials(outfit.materials)
    outfit.objects.clear()
    outfit.materials.clear()
    outfit.by_role.clear()
    outfit.body_object = None
    outfit.hair_clearance = 0.0
