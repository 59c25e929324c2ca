"""Hair objects on a dressed body, from the shapes of `shapes/hair.py`.

The cap follows the head bone; curtain and ponytail rows below the neck blend to the chest
bone (`HairPart.head_weight`), so long hair stays on the back when the torso turns.
"""
from __future__ import annotations

from ..shapes.hair import hair_clearance, hair_geometry, style_variation
from . import materials, rig
from .skinned_mesh import mesh_object, skin_by_weights


def add_hair(outfit, ctx, hair, name_prefix: str = ""):
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
            head = rig.bone_name(ctx.rig, "head")
            chest = rig.bone_name(ctx.rig, "upper_chest")
            skin_by_weights(obj, ctx.armature, {head: part.head_weight, chest: 1.0 - part.head_weight})
        outfit.objects.append(obj)
        objects.append(obj)
    outfit.by_role["hair"] = objects[0]
    return objects
