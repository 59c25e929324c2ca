"""The character's body in Blender: skinned mesh + armature from the MPFB2 assets.

`build_body` morphs the base mesh for a phenotype (numpy, `core.mpfb`), fits the rig to it,
and creates:

* the body mesh object: the ``body`` face group plus the two eyeballs (second material);
  helpers, joint cubes, genitals, teeth, tongue and eyelashes are left out. UVs are kept,
  shading is smooth, and the point attribute ``base_index`` gives each vertex's base-mesh
  index (also in `BodyBuild.body_base_indices`);
* the armature object (parent of the body, at the origin; moving it moves the character);
* a skin material (Principled BSDF, low subsurface) and an eye material.

Speed: the topology, UVs and skin-weight vertex groups of each mesh kind are built once per
process into a *template mesh* (a hidden datablock with a fake user, named ``SH_template_…``);
each character copies it and only writes new vertex positions. `remove_body` deletes every
datablock a build created (objects, meshes, materials, armature, images, actions), so the
datablock counts return to where they were; the templates stay, by design.

Every object made here gets ``pass_index = 1`` (the render step's person mask).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core.mpfb.assets import asset_path, load_base_mesh, to_blender_frame
from ..core.mpfb.bones import bone_name
from ..core.mpfb.phenotype import Phenotype, body_vertices
from ..core.mpfb.rig import Rig, joint_positions, load_rig
from ..core.palettes import hex_to_linear
from . import rig as rigmod

PERSON_PASS_INDEX = 1
DEFAULT_RIG = "default_no_toes"
BODY_GROUPS = ("body", "helper-l-eye", "helper-r-eye")  # face groups of the body object
HELPER_GROUPS = ("helper-tights", "helper-skirt", "helper-hair")
BASE_INDEX_ATTRIBUTE = "base_index"
_TEMPLATE_PREFIX = "SH_template_"


@dataclass
class BodyBuild:
    """Everything `build_body` made, and what clothes and accessories need.

    `verts` are all base-mesh vertices (body, helpers, joint cubes) of this body in the
    armature's rest frame (metres, Z up, feet on z = 0, facing −Y); index them with
    `core.mpfb.assets.load_base_mesh().vertex_groups[...]`. `joints` are the joint-cube centroids.
    """

    phenotype: Phenotype
    rig_name: str
    rig: Rig
    verts: np.ndarray
    joints: dict[str, np.ndarray]
    armature: bpy.types.Object
    body: bpy.types.Object
    body_base_indices: np.ndarray
    skin_material: bpy.types.Material
    skin_hex: str
    collection: bpy.types.Collection
    helpers: dict[str, bpy.types.Object] = field(default_factory=dict)
    # Datablocks to delete in remove_body (everything created for this character).
    owned: list = field(default_factory=list)

    @property
    def height(self) -> float:
        """Rest-pose height of the body mesh (metres)."""
        return float(self.verts[load_base_mesh().vertex_groups["body"], 2].max())

    def bone(self, semantic: str) -> str:
        """The rig's bone for a role (``head``, ``left_hand`` …), see `core.mpfb.bones`."""
        return bone_name(self.rig_name, semantic)


# ---------------------------------------------------------------------------------------
# Template meshes (topology + UVs + weights, built once per process)
# ---------------------------------------------------------------------------------------

def _faces_of_groups(groups: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces, face_uvs, material index per face) of the named OBJ face groups."""
    base = load_base_mesh()
    idx = [base.group_faces(g) for g in groups]
    faces = np.concatenate([base.faces[i] for i in idx])
    face_uvs = np.concatenate([base.face_uvs[i] for i in idx])
    material = np.concatenate([np.full(len(i), 1 if g.endswith("-eye") else 0)
                               for g, i in zip(groups, idx)])
    return faces, face_uvs, material


def _template_name(groups: tuple[str, ...], rig_name: str) -> str:
    return f"{_TEMPLATE_PREFIX}{'+'.join(groups)}_{rig_name}"


def _template_mesh(groups: tuple[str, ...], rig: Rig) -> bpy.types.Mesh:
    name = _template_name(groups, rig.name)
    mesh = bpy.data.meshes.get(name)
    if mesh is not None:
        return mesh
    base = load_base_mesh()
    faces, face_uvs, material = _faces_of_groups(groups)
    used = np.unique(faces)
    remap = np.full(len(base.vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    local = remap[faces]

    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(used))
    mesh.vertices.foreach_set("co", to_blender_frame(base.vertices[used]).astype(np.float32).ravel())
    mesh.loops.add(local.size)
    mesh.loops.foreach_set("vertex_index", local.ravel().astype(np.int32))
    mesh.polygons.add(len(local))
    mesh.polygons.foreach_set("loop_start", np.arange(0, local.size, 4, dtype=np.int32))
    mesh.polygons.foreach_set("material_index", material.astype(np.int32))
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", base.uvs[face_uvs.ravel()].astype(np.float32).ravel())
    attr = mesh.attributes.new(BASE_INDEX_ATTRIBUTE, "INT", "POINT")
    attr.data.foreach_set("value", used.astype(np.int32))
    mesh.update()
    mesh.shade_smooth()
    # Vertex groups live on the mesh (Blender ≥ 3.0); the API needs an object to add them.
    tmp = bpy.data.objects.new(name + "_tmp", mesh)
    rigmod.add_skin_weights(tmp, rig, used)
    bpy.data.objects.remove(tmp)
    mesh.use_fake_user = True
    return mesh


def template_base_indices(mesh: bpy.types.Mesh) -> np.ndarray:
    """The ``base_index`` attribute of a mesh made here (vertex → base-mesh vertex)."""
    out = np.empty(len(mesh.vertices), dtype=np.int32)
    mesh.attributes[BASE_INDEX_ATTRIBUTE].data.foreach_get("value", out)
    return out.astype(np.int64)


def _mesh_from_template(groups: tuple[str, ...], rig: Rig, verts: np.ndarray, name: str) -> tuple[bpy.types.Mesh, np.ndarray]:
    template = _template_mesh(groups, rig)
    mesh = template.copy()
    mesh.name = name
    mesh.use_fake_user = False
    base_idx = template_base_indices(mesh)
    mesh.vertices.foreach_set("co", verts[base_idx].astype(np.float32).ravel())
    mesh.update()
    return mesh, base_idx


# ---------------------------------------------------------------------------------------
# Materials
# ---------------------------------------------------------------------------------------

def _principled(mat: bpy.types.Material) -> bpy.types.Node:
    if mat.node_tree is None:  # Blender 5 gives new materials a node tree already
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        out = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
        mat.node_tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def make_skin_material(name: str, skin_hex: str, detail_texture: bool = False) -> tuple[bpy.types.Material, list]:
    """Skin: Principled BSDF in the given sRGB tone, subsurface weight 0.05, roughness 0.5.

    With `detail_texture` the shipped ``textures/sss.png`` (a skin detail map) modulates the
    tone (multiplied, 35 %); off by default because loading a 2048² image per character
    costs far more than it shows at re-id crop sizes. Returns the material and the extra
    datablocks created (the image, if any).
    """
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    rgb = hex_to_linear(skin_hex)
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.5
    bsdf.inputs["Subsurface Weight"].default_value = 0.05
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.2, 0.1)
    bsdf.inputs["Subsurface Scale"].default_value = 0.01
    mat.diffuse_color = (*rgb, 1.0)  # viewport / workbench colour
    extra = []
    if detail_texture:
        img = bpy.data.images.load(str(asset_path("textures/sss.png")), check_existing=False)
        img.name = name + "_detail"
        extra.append(img)
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = img
        mix = nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        mix.blend_type = "MULTIPLY"
        mix.inputs["Factor"].default_value = 0.35
        mix.inputs["A"].default_value = (*rgb, 1.0)
        links.new(tex.outputs["Color"], mix.inputs["B"])
        links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    return mat, extra


def make_eye_material(name: str) -> bpy.types.Material:
    """Eyeballs: a dark, glossy brown-grey (a white sclera looks wrong at low resolution)."""
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    bsdf.inputs["Base Color"].default_value = (0.05, 0.04, 0.035, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.2
    mat.diffuse_color = (0.05, 0.04, 0.035, 1.0)
    return mat


# ---------------------------------------------------------------------------------------
# Build / remove
# ---------------------------------------------------------------------------------------

def build_body(phenotype: Phenotype, skin_hex: str, collection: bpy.types.Collection | None = None,
               rig_name: str = DEFAULT_RIG, name: str = "person", detail_texture: bool = False) -> BodyBuild:
    """Create the body mesh and armature of one character (rest pose, at the origin)."""
    if collection is None:
        collection = bpy.context.scene.collection
    verts = body_vertices(phenotype)
    rig = load_rig(rig_name, verts)
    owned: list = []

    armature = rigmod.create_armature(rig, f"{name}_armature", collection)
    owned += [armature, armature.data]

    mesh, base_idx = _mesh_from_template(BODY_GROUPS, rig, verts, f"{name}_body")
    body = bpy.data.objects.new(f"{name}_body", mesh)
    collection.objects.link(body)
    owned += [body, mesh]

    skin, extra = make_skin_material(f"{name}_skin", skin_hex, detail_texture)
    eyes = make_eye_material(f"{name}_eyes")
    owned += [skin, eyes, *extra]
    mesh.materials.append(skin)
    mesh.materials.append(eyes)

    rigmod.bind_to_armature(body, armature)
    for obj in (armature, body):
        obj.pass_index = PERSON_PASS_INDEX
    return BodyBuild(phenotype=phenotype, rig_name=rig_name, rig=rig, verts=verts,
                     joints=joint_positions(verts), armature=armature, body=body,
                     body_base_indices=base_idx, skin_material=skin, skin_hex=skin_hex,
                     collection=collection, owned=owned)


def make_helper_object(build: BodyBuild, group_name: str, name: str) -> bpy.types.Object:
    """A mesh object from one helper face group (``helper-tights``, ``helper-skirt``,
    ``helper-hair`` …) in this body's morphed shape, skinned like the body.

    It has the same UVs, the rig's vertex groups, an Armature modifier and the armature as
    parent, so it follows every pose exactly like the body. Its point attribute
    ``base_index`` maps each vertex to the base mesh (see `template_base_indices`). It uses
    the skin material until the caller assigns another. `remove_body` deletes it too.
    """
    base = load_base_mesh()
    if group_name not in base.face_groups:
        raise KeyError(f"unknown helper group {group_name!r}; helpers: "
                       f"{sorted(g for g in base.face_groups if g.startswith('helper-'))}")
    mesh, _ = _mesh_from_template((group_name,), build.rig, build.verts, name)
    obj = bpy.data.objects.new(name, mesh)
    build.collection.objects.link(obj)
    build.owned += [obj, mesh]
    rigmod.bind_to_armature(obj, build.armature)
    obj.pass_index = PERSON_PASS_INDEX
    build.helpers[name] = obj
    return obj


def own(build: BodyBuild, *datablocks) -> None:
    """Register extra datablocks (made by clothes, motion …) for deletion by `remove_body`."""
    build.owned.extend(datablocks)


_REMOVERS = (
    (bpy.types.Object, lambda: bpy.data.objects),
    (bpy.types.Mesh, lambda: bpy.data.meshes),
    (bpy.types.Material, lambda: bpy.data.materials),
    (bpy.types.Armature, lambda: bpy.data.armatures),
    (bpy.types.Image, lambda: bpy.data.images),
    (bpy.types.Action, lambda: bpy.data.actions),
    (bpy.types.Curve, lambda: bpy.data.curves),
    (bpy.types.NodeTree, lambda: bpy.data.node_groups),
    (bpy.types.Texture, lambda: bpy.data.textures),
)


def remove_body(build: BodyBuild) -> None:
    """Delete every datablock created for this character (objects first, then data).

    Datablocks already removed by someone else are skipped.
    """
    objects = [d for d in build.owned if _alive(d) and isinstance(d, bpy.types.Object)]
    for obj in objects:
        bpy.data.objects.remove(obj, do_unlink=True)
    for d in build.owned:
        if not _alive(d) or isinstance(d, bpy.types.Object):
            continue
        for kind, coll in _REMOVERS:
            if isinstance(d, kind):
                coll().remove(d, do_unlink=True)
                break
    build.owned.clear()
    build.helpers.clear()


def _alive(datablock) -> bool:
    try:
        datablock.name  # noqa: B018 - raises ReferenceError once removed
        return True
    except ReferenceError:
        return False
