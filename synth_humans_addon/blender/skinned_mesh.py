"""Fast creation of the mesh objects of clothes, hair and accessories (Blender data API only).

`mesh_object` fills a mesh with ``foreach_set`` (no ``bpy.ops``, no ``from_pydata`` loops)
and stores the rest position as the ``rest_co`` attribute the materials read.
`parent_to_bone` attaches rigid accessories to a bone. (Skinning garments cut from the base
mesh uses the body's own `rig.add_skin_weights` / `rig.bind_to_armature`.)
"""
from __future__ import annotations

import numpy as np

import bpy
import mathutils

from .materials import REST_ATTRIBUTE

PERSON_PASS_INDEX = 1  # the person mask's object index (shared with the body and the renderer)


def mesh_object(name: str, vertices: np.ndarray, faces: np.ndarray, collection=None,
                material=None, rest: np.ndarray | None = None, smooth: bool = True) -> bpy.types.Object:
    """A new mesh object from vertices (n, 3) and faces (m, k) of one polygon size k (3 or 4).

    `rest` (default: `vertices`) is stored as the ``rest_co`` point attribute.
    The object gets the person mask's pass index.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    if faces.ndim != 2 or len(faces) == 0:
        raise ValueError(f"{name}: a mesh needs at least one face, got faces of shape {faces.shape}")
    mesh = bpy.data.meshes.new(name)
    n_corners = faces.shape[1]
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", vertices.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, n_corners, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.full(len(faces), smooth, dtype=bool))
    mesh.update(calc_edges=True)
    attr = mesh.attributes.new(REST_ATTRIBUTE, "FLOAT_VECTOR", "POINT")
    attr.data.foreach_set("vector", np.ascontiguousarray(rest if rest is not None else vertices,
                                                         dtype=np.float32).ravel())
    if material is not None:
        mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    obj.pass_index = PERSON_PASS_INDEX
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def parent_to_bone(obj: bpy.types.Object, armature: bpy.types.Object, bone: str) -> None:
    """Rigidly attach `obj` (built in the rest-pose world frame) to an armature bone.

    Bone parenting places the child relative to the bone's *tail*, so the parent inverse is
    the bone's rest matrix (at its tail) in world space; the object then keeps its rest-pose
    placement and follows the bone in every pose.
    """
    if bone not in armature.data.bones:
        raise KeyError(f"armature {armature.name!r} has no bone {bone!r}")
    b = armature.data.bones[bone]
    obj.parent = armature
    obj.parent_type = "BONE"
    obj.parent_bone = bone
    tail = mathutils.Matrix.Translation((0.0, b.length, 0.0))  # bone space: +Y runs head → tail
    obj.matrix_parent_inverse = (armature.matrix_world @ b.matrix_local @ tail).inverted()


def remove_objects(objects) -> None:
    """Delete objects and their mesh data (no-op for already removed ones)."""
    for obj in objects:
        try:
            data = obj.data
            bpy.data.objects.remove(obj, do_unlink=True)
        except ReferenceError:
            continue
        if isinstance(data, bpy.types.Mesh) and data.users == 0:
            bpy.data.meshes.remove(data)


def skin_by_weights(obj: bpy.types.Object, armature: bpy.types.Object, weights: dict[str, np.ndarray | float]) -> None:
    """Deform `obj` by named bones with per-vertex weights (arrays over its vertices, or one
    number for all); weights are rounded to 1/64 so each group needs few `add` calls."""
    from .rig import bind_to_armature  # noqa: PLC0415 (the body side's binding, one definition)

    n = len(obj.data.vertices)
    for bone, w in weights.items():
        if bone not in armature.data.bones:
            raise KeyError(f"armature {armature.name!r} has no bone {bone!r}")
        q = np.round(np.broadcast_to(np.asarray(w, dtype=float), (n,)) * 64.0) / 64.0
        group = obj.vertex_groups.get(bone) or obj.vertex_groups.new(name=bone)
        for level in np.unique(q):
            if level > 0:
                group.add(np.flatnonzero(q == level).tolist(), float(level), "REPLACE")
    bind_to_armature(obj, armature)


# Per rig name: (the skin_weights dict it was built from, the table). Rigs of one name share
# one weights dict (`core.mpfb.rig.skin_weights` caches it), so this holds one small entry per rig in use.
_WEIGHT_TABLES: dict[str, tuple[dict, tuple]] = {}


def _weight_table(rig) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """A rig's skin weights by base vertex: (bone names, row pointers, bone index, weight)."""
    cached = _WEIGHT_TABLES.get(rig.name)
    if cached is not None and cached[0] is rig.skin_weights:
        return cached[1]
    bones = tuple(rig.skin_weights)
    ids = np.concatenate([rig.skin_weights[b][0] for b in bones])
    w = np.concatenate([rig.skin_weights[b][1] for b in bones])
    bone = np.concatenate([np.full(len(rig.skin_weights[b][0]), k) for k, b in enumerate(bones)])
    order = np.argsort(ids, kind="stable")
    ids, w, bone = ids[order], w[order], bone[order]
    ptr = np.searchsorted(ids, np.arange(int(ids.max()) + 2))
    table = (bones, ptr, bone, w)
    _WEIGHT_TABLES[rig.name] = (rig.skin_weights, table)
    return table


def skin_from_rig(obj: bpy.types.Object, rig, source: np.ndarray, armature: bpy.types.Object) -> None:
    """Vertex groups of `obj` from the rig's weights of base vertices `source` (vertex i of
    `obj` is base vertex `source[i]`), then bind it to the armature.

    Same result as `rig.add_skin_weights` (weights rounded to 1/1000), but it only visits the
    bones that weight these vertices, through a per-rig table built once: a garment is
    skinned in a few milliseconds instead of a loop over all ~160 bones.
    """
    from .rig import bind_to_armature  # noqa: PLC0415

    bones, ptr, bone_of, weight_of = _weight_table(rig)
    source = np.asarray(source, dtype=np.int64)
    inside = source < len(ptr) - 1
    starts = np.where(inside, ptr[np.minimum(source, len(ptr) - 2)], 0)
    ends = np.where(inside, ptr[np.minimum(source, len(ptr) - 2) + 1], 0)
    counts = ends - starts
    local = np.repeat(np.arange(len(source)), counts)
    entry = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    b, q = bone_of[entry], np.round(weight_of[entry] * 1000.0).astype(np.int64)
    keep = q > 0
    local, b, q = local[keep], b[keep], q[keep]
    order = np.lexsort((q, b))
    local, b, q = local[order], b[order], q[order]
    bounds = np.concatenate([[0], np.flatnonzero((np.diff(b) != 0) | (np.diff(q) != 0)) + 1, [len(b)]]).tolist()
    local_list, b_list, q_list = local.tolist(), b.tolist(), q.tolist()
    groups: dict[int, bpy.types.VertexGroup] = {}
    for start, end in zip(bounds[:-1], bounds[1:]):
        k = b_list[start]
        if k not in groups:
            groups[k] = obj.vertex_groups.new(name=bones[k])
        groups[k].add(local_list[start:end], q_list[start] / 1000.0, "REPLACE")
    bind_to_armature(obj, armature)
