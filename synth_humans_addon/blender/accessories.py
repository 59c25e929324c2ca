"""Accessory objects on a dressed body, from the shapes of `shapes/accessories.py`.

Each part is parented rigidly to a bone (semantic names via `rig.bone_name`), so it follows
every pose without an Armature modifier to evaluate; straps and lenses get a darker shade of
the accessory's colour.
"""
from __future__ import annotations

from ..core.palettes import hex_to_srgb, srgb_to_hex
from ..shapes.accessories import accessory_geometry, accessory_side
from . import materials, rig
from .skinned_mesh import mesh_object, parent_to_bone


def add_accessory(outfit, ctx, accessory, name_prefix: str = ""):
    """Create an accessory (`sampling.AccessorySample`) on a dressed body; returns its objects."""
    clearance = getattr(outfit, "hair_clearance", 0.0)  # set by hair.add_hair (hair is added first)
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
            parent_to_bone(obj, ctx.armature, rig.bone_name(ctx.rig, part.bone))
        outfit.objects.append(obj)
        objects.append(obj)
    outfit.by_role[accessory.kind] = objects[0]
    return objects


def _shade(hex_color: str, factor: float) -> str:
    return srgb_to_hex([c * factor for c in hex_to_srgb(hex_color)])
