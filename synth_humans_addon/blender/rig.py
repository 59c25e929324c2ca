"""Armatures from `core.mpfb.rig.Rig`: bones, skin-weight vertex groups, semantic bone lookup.

`create_armature` builds the armature object in edit mode (the only way Blender creates
bones). `add_skin_weights` writes a rig's weights as vertex groups of a mesh object whose
vertices are a subset of the base mesh, and `bind_to_armature` adds the Armature modifier.
`bone_name(build_or_rig_name, "left_hand")` translates semantic names (head, neck, chest,
spine, hips, left_/right_ + shoulder, upperarm, forearm, hand, thigh, shin, foot, toe) to
the rig's own bone names, so accessory code can parent to bones without knowing the rig.
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.mpfb.rig import Rig

# Semantic name → bone, per standard rig. Sided entries use {s}: "L"/"R" (default rigs),
# "Left"/"Right" (CMU, Mixamo) or "l"/"r" (game engine).
_SEMANTIC: dict[str, dict[str, str]] = {
    "default": {
        "root": "root", "hips": "root", "pelvis": "root", "spine": "spine03", "lower_spine": "spine04",
        "chest": "spine01", "upper_chest": "spine01", "neck": "neck01", "head": "head",
        "{side}_shoulder": "clavicle.{s}", "{side}_upperarm": "upperarm01.{s}", "{side}_forearm": "lowerarm01.{s}",
        "{side}_hand": "wrist.{s}", "{side}_thigh": "upperleg01.{s}", "{side}_shin": "lowerleg01.{s}",
        "{side}_foot": "foot.{s}", "{side}_toe": "toe1-1.{s}", "{side}_hip": "pelvis.{s}",
        "{side}_upperarm_lower": "upperarm02.{s}", "{side}_forearm_lower": "lowerarm02.{s}",
        "{side}_thigh_lower": "upperleg02.{s}", "{side}_shin_lower": "lowerleg02.{s}",
    },
    "cmu_mb": {
        "root": "Hips", "hips": "Hips", "pelvis": "Hips", "spine": "Spine", "lower_spine": "LowerBack",
        "chest": "Spine1", "upper_chest": "Spine1", "neck": "Neck", "head": "Head",
        "{side}_shoulder": "{S}Shoulder", "{side}_upperarm": "{S}Arm", "{side}_forearm": "{S}ForeArm",
        "{side}_hand": "{S}Hand", "{side}_thigh": "{S}UpLeg", "{side}_shin": "{S}Leg", "{side}_foot": "{S}Foot",
        "{side}_toe": "{S}ToeBase", "{side}_hip": "{H}HipJoint",
    },
    "game_engine": {
        "root": "Root", "hips": "pelvis", "pelvis": "pelvis", "spine": "spine_01", "lower_spine": "spine_01",
        "chest": "spine_03", "upper_chest": "spine_03", "neck": "neck_01", "head": "head",
        "{side}_shoulder": "clavicle_{s}", "{side}_upperarm": "upperarm_{s}", "{side}_forearm": "lowerarm_{s}",
        "{side}_hand": "hand_{s}", "{side}_thigh": "thigh_{s}", "{side}_shin": "calf_{s}", "{side}_foot": "foot_{s}",
        "{side}_toe": "ball_{s}",
    },
    "mixamo": {
        "root": "mixamorig:Hips", "hips": "mixamorig:Hips", "pelvis": "mixamorig:Hips", "spine": "mixamorig:Spine",
        "lower_spine": "mixamorig:Spine", "chest": "mixamorig:Spine2", "upper_chest": "mixamorig:Spine2",
        "neck": "mixamorig:Neck", "head": "mixamorig:Head",
        "{side}_shoulder": "mixamorig:{S}Shoulder", "{side}_upperarm": "mixamorig:{S}Arm",
        "{side}_forearm": "mixamorig:{S}ForeArm", "{side}_hand": "mixamorig:{S}Hand",
        "{side}_thigh": "mixamorig:{S}UpLeg", "{side}_shin": "mixamorig:{S}Leg", "{side}_foot": "mixamorig:{S}Foot",
        "{side}_toe": "mixamorig:{S}ToeBase",
    },
}
_SEMANTIC["default_no_toes"] = _SEMANTIC["default"]
_SEMANTIC["game_engine_with_breast"] = _SEMANTIC["game_engine"]


def semantic_names() -> list[str]:
    """All semantic bone names understood by `bone_name`."""
    out = []
    for key in _SEMANTIC["default"]:
        out += [key.format(side=s) for s in ("left", "right")] if "{side}" in key else [key]
    return out


def rig_bone_name(rig_name: str, semantic: str) -> str:
    """The bone of rig `rig_name` playing the role `semantic` (e.g. ``"left_hand"``)."""
    table = _SEMANTIC.get(rig_name)
    if table is None:
        raise KeyError(f"no semantic bone map for rig {rig_name!r}; known: {sorted(_SEMANTIC)}")
    side = None
    key = semantic
    for prefix in ("left_", "right_"):
        if semantic.startswith(prefix):
            side, key = prefix[:-1], "{side}_" + semantic[len(prefix):]
    if key not in table:
        raise KeyError(f"unknown semantic bone {semantic!r} for rig {rig_name!r}; known: {semantic_names()}")
    pattern = table[key]
    if side is None:
        return pattern
    left = side == "left"
    short = ("L" if left else "R") if rig_name.startswith("default") else ("l" if left else "r")
    return pattern.format(s=short, S="Left" if left else "Right", H="L" if left else "R")


def bone_name(build_or_rig, semantic: str) -> str:
    """Semantic bone lookup on a `BodyBuild`, a `core.mpfb.rig.Rig` or a rig name."""
    rig_name = build_or_rig if isinstance(build_or_rig, str) else getattr(build_or_rig, "rig_name", None) \
        or getattr(build_or_rig, "name")
    return rig_bone_name(rig_name, semantic)


def _ensure_in_scene(obj: bpy.types.Object, collection: bpy.types.Collection) -> None:
    """Edit mode needs the object in the current view layer: link it to the scene if its
    collection is not part of the scene."""
    scene_coll = bpy.context.scene.collection
    if collection != scene_coll and collection not in scene_coll.children_recursive:
        scene_coll.objects.link(obj)


def create_armature(rig: Rig, name: str, collection: bpy.types.Collection) -> bpy.types.Object:
    """An armature object with the rig's bones (armature space = the vertices' frame).

    Bones whose head and tail coincide would be deleted by Blender on leaving edit mode,
    so their tail is nudged 1 cm up.
    """
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    _ensure_in_scene(obj, collection)
    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    view_layer.objects.active = obj
    with bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj],
                                   selected_editable_objects=[obj]):
        bpy.ops.object.mode_set(mode="EDIT")
        edit = data.edit_bones
        for spec in rig.bones:
            eb = edit.new(spec.name)
            head = Vector(spec.head)
            tail = Vector(spec.tail)
            if (tail - head).length < 1e-4:
                tail = head + Vector((0.0, 0.0, 0.01))
            eb.head, eb.tail, eb.roll = head, tail, spec.roll
            eb.use_deform = spec.use_deform
        for spec in rig.bones:
            if spec.parent:
                eb = edit[spec.name]
                eb.parent = edit[spec.parent]
                eb.use_connect = spec.use_connect and (eb.head - eb.parent.tail).length < 1e-6
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous_active
    data.display_type = "STICK"
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


def add_skin_weights(obj: bpy.types.Object, rig: Rig, base_indices: np.ndarray) -> None:
    """Vertex groups on `obj` from the rig's skin weights.

    `base_indices[i]` is the base-mesh index of the object's vertex i. Weights are grouped
    by value (rounded to 1/1000) so each group needs a few `VertexGroup.add` calls.
    """
    remap = np.full(int(max(base_indices.max() + 1, 1)), -1, dtype=np.int64)
    remap[base_indices] = np.arange(len(base_indices))
    for bone, (idx, w) in rig.skin_weights.items():
        idx_in = idx[idx < len(remap)]
        w_in = w[idx < len(remap)]
        local = remap[idx_in]
        keep = local >= 0
        if not keep.any():
            continue
        local, q = local[keep], np.round(w_in[keep] * 1000.0).astype(np.int64)
        nonzero = q > 0
        local, q = local[nonzero], q[nonzero]
        if local.size == 0:
            continue
        vg = obj.vertex_groups.new(name=bone)
        order = np.argsort(q, kind="stable")
        local, q = local[order], q[order]
        values, starts = np.unique(q, return_index=True)
        for value, part in zip(values, np.split(local, starts[1:])):
            vg.add(part.tolist(), float(value) / 1000.0, "REPLACE")


def bind_to_armature(obj: bpy.types.Object, armature: bpy.types.Object) -> bpy.types.ArmatureModifier:
    """Parent `obj` to the armature (no offset) and deform it with an Armature modifier."""
    obj.parent = armature
    obj.matrix_parent_inverse = Matrix.Identity(4)
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = armature
    mod.use_vertex_groups = True
    mod.use_deform_preserve_volume = False  # plain LBS: cheaper, and matches anny's skinning
    return mod
