"""Armatures from `core.mpfb.rig.Rig`: bones and skin-weight vertex groups.

`create_armature` builds the armature object in edit mode (the only way Blender creates
bones). `add_skin_weights` writes a rig's weights as vertex groups of a mesh object whose
vertices are a subset of the base mesh, and `bind_to_armature` adds the Armature modifier.
Bones by role (``left_hand`` …) are looked up in `core.mpfb.bones`.
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.mpfb.rig import Rig

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
