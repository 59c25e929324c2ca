"""Dress a built body: tops, trousers/shorts, skirts, shoes, hair and accessories.

`dress(build, character)` creates every garment of a `sampling.CharacterSample` on a body
from `body.build_body` and returns an `Outfit`; `remove_outfit` frees all of it.

Garments are cut from the base mesh's ``helper-tights`` (by body region and limb length,
see `garment_regions`) and ``helper-skirt``, on the *morphed* vertices of this body, pushed
a few millimetres out along the normals (more for outer layers, so a T-shirt lies over the
trousers' waistband and a jacket over everything), and skinned with the rig's own weights
of those base vertices: they follow every body shape and every pose with no manual fitting.
Body skin under opaque garments is hidden with a Mask modifier so it cannot poke through
at bent elbows and knees.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import bpy

from ..core import mpfb
from . import garment_regions as gr
from . import materials
from .skinned_mesh import mesh_object, remove_objects

# Offsets along the normals, metres above the tights helper (itself ~5 mm above the skin).
# Layer order, inside out: trousers/shorts < skirt < shoes/top < jacket.
_OFFSET = {
    "trousers": 0.003, "shorts": 0.004, "skirt": 0.004, "tshirt": 0.007, "longsleeve": 0.007,
    "jacket": 0.017, "shoes": 0.008, "boots": 0.009,
}
HIDDEN_SKIN_GROUP = "hidden-under-clothes"


@dataclass
class Outfit:
    """Everything `dress` created, so it can be freed exactly."""

    objects: list[bpy.types.Object] = field(default_factory=list)
    materials: list[bpy.types.Material] = field(default_factory=list)
    body_object: Any = None  # the body whose skin got a mask (restored by remove_outfit)
    by_role: dict[str, bpy.types.Object] = field(default_factory=dict)  # "top", "bottom", "shoes", "hair", "backpack" …


@dataclass(frozen=True)
class BodyContext:
    """What dressing needs from a built body, whatever the body module calls it."""

    vertices: np.ndarray  # all base-mesh vertices, morphed, rest pose, Blender frame
    rig: mpfb.Rig
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
        verts = mpfb.body_vertices(phenotype)
    rig = _first_attr(build, ("rig",))
    if rig is None:
        rig = mpfb.load_rig(_first_attr(build, ("rig_name",)) or "default_no_toes", np.asarray(verts))
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
# Garment shapes
# ---------------------------------------------------------------------------------------

def _unit(seed: int, salt: int) -> float:
    """A deterministic number in [0, 1) from a garment's seed (no RNG state to carry)."""
    return float(np.random.default_rng([int(seed), salt]).random())


def garment_cut(kind: str, lm: gr.BodyLandmarks, seed: int = 0) -> gr.GarmentCut:
    """The tights region of a top, bottom or shoe kind on a body with landmarks `lm`."""
    hs = lm.height_scale
    collar = lm.neck - 0.008 * hs  # a crew neck at the base of the neck
    if kind == "tshirt":
        return gr.GarmentCut(sleeve_end=0.35 + 0.2 * _unit(seed, 1), torso_low=lm.crotch - 0.03 * hs,
                             torso_high=collar)
    if kind == "longsleeve":
        return gr.GarmentCut(sleeve_end=1.96, torso_low=lm.crotch - 0.03 * hs, torso_high=collar)
    if kind == "jacket":
        return gr.GarmentCut(sleeve_end=1.98, torso_low=lm.crotch - (0.06 + 0.06 * _unit(seed, 1)) * hs,
                             torso_high=lm.neck + 0.012 * hs)
    if kind == "trousers":
        return gr.GarmentCut(leg_start=-1.0, leg_end=1.96, torso_low=-np.inf, torso_high=lm.waist)
    if kind == "shorts":
        return gr.GarmentCut(leg_start=-1.0, leg_end=0.5 + 0.3 * _unit(seed, 1), torso_low=-np.inf,
                             torso_high=lm.waist)
    if kind == "shoes":
        return gr.GarmentCut(leg_start=1.9, leg_end=9.0)
    if kind == "boots":
        return gr.GarmentCut(leg_start=1.5 + 0.2 * _unit(seed, 1), leg_end=9.0)
    raise ValueError(f"unknown garment kind {kind!r}")


def _offsets(kind: str, verts: np.ndarray, lm: gr.BodyLandmarks) -> np.ndarray | float:
    base = _OFFSET[kind]
    if kind != "jacket":
        return base
    # A jacket hangs off the shoulders: loosest at the chest and hem, tighter at the collar.
    z = verts[:, 2]
    extra = 0.008 * np.clip((lm.neck - z) / max(lm.neck - lm.chest, 1e-3), 0.0, 1.0)
    return base + extra


def garment_mesh(kind: str, verts: np.ndarray, seed: int = 0,
                 layout: gr.TightsLayout | None = None, under_top: str | None = None) -> gr.SubMesh:
    """The rest-pose mesh of one garment on a body (`verts`: all morphed base-mesh vertices).

    `under_top`: the kind of top worn over a skirt; the skirt then starts just above the
    top's hem (tucked in), because the skirt helper flares far out from the hips and would
    otherwise poke through the top.
    """
    lm = gr.landmarks(verts)
    if kind == "skirt":
        # Knee-length ± a hand: from mid-thigh to mid-calf.
        hem = lm.knee + (lm.crotch - lm.knee) * (0.6 - 1.0 * _unit(seed, 1))
        top_z = lm.waist
        if under_top is not None:
            top_z = min(top_z, garment_cut(under_top, lm).torso_low + 0.02 * lm.height_scale)
        faces = gr.skirt_faces(verts, top_z=top_z, hem_z=hem)
        shaped = verts
    else:
        layout = layout or gr.tights_layout(verts)
        cut = garment_cut(kind, lm, seed)
        faces = gr.tights_faces(verts, cut, layout)
        shaped = gr.snap_hems(verts, faces, layout, cut) if len(faces) else verts
    if len(faces) == 0:
        raise ValueError(f"garment {kind!r} selects no faces on this body")
    sub = gr.submesh(shaped, faces, _offsets(kind, shaped, lm))
    if kind in ("shoes", "boots"):
        # A flat sole a little below the foot, so the shoe reads as a shoe, not a sock.
        v = sub.vertices.copy()
        sole = lm.ground - 0.004
        low = v[:, 2] < lm.ground + 0.02
        v[low, 2] = np.minimum(v[low, 2], sole + 0.5 * (v[low, 2] - lm.ground).clip(0))
        sub = gr.SubMesh(vertices=v, faces=sub.faces, source=sub.source)
    return sub


# ---------------------------------------------------------------------------------------
# Dressing
# ---------------------------------------------------------------------------------------

def _skin(obj, ctx: BodyContext, source: np.ndarray) -> None:
    if ctx.armature is None:
        return
    from . import rig  # the body side's skinning helpers

    rig.add_skin_weights(obj, ctx.rig, source)
    rig.bind_to_armature(obj, ctx.armature)


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


def dress(build, character, hide_skin: bool = True) -> Outfit:
    """Create the top, bottom, shoes, hair and accessories of `character` on `build`.

    `character` is a `sampling.CharacterSample` (only its `top`, `bottom`, `shoes`, `hair`,
    `accessories` fields are read). Every object gets pass_index 1 (the person mask) and
    follows the armature. On error, whatever was already created is freed before re-raising.
    """
    from . import accessories as acc_mod  # noqa: PLC0415 (sibling modules import this one's helpers)
    from . import hair as hair_mod  # noqa: PLC0415

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
            hair_mod.add_hair(outfit, ctx, character.hair, prefix)
        for a in character.accessories:
            acc_mod.add_accessory(outfit, ctx, a, prefix)
        if hide_skin:
            hide_covered_skin(outfit, ctx, character)
    except Exception:
        remove_outfit(outfit)
        raise
    return outfit


def covered_base_vertices(ctx: BodyContext, character) -> np.ndarray:
    """Base-mesh ids of *body* vertices under an opaque garment (safe to hide).

    A body vertex is covered when the nearest tights vertex is covered by a garment cut
    shrunk a little (a sleeve hides skin only up to 3 cm before its end), so skin never
    shows a gap at a hem.
    """
    verts = ctx.vertices
    lm = gr.landmarks(verts)
    layout = gr.tights_layout(verts)
    covered = np.zeros(len(layout.vertices), dtype=bool)
    for role in ("top", "bottom", "shoes"):
        g = getattr(character, role)
        if g is None or g.kind == "skirt":
            continue
        cut = garment_cut(g.kind, lm, g.seed)
        inner = gr.GarmentCut(sleeve_end=cut.sleeve_end - 0.15, leg_start=cut.leg_start + 0.15,
                              leg_end=cut.leg_end - 0.15, torso_low=cut.torso_low + 0.03,
                              torso_high=cut.torso_high - 0.03)
        covered |= gr.select_tights_vertices(layout, verts, inner)
    if not covered.any():
        return np.zeros(0, dtype=np.int64)
    body_ids, nearest = _body_to_tights()
    return body_ids[covered[nearest]]


@functools.lru_cache(maxsize=1)
def _body_to_tights(max_distance: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """(body vertex ids, index of their nearest tights vertex), on the neutral body.

    Macro targets move skin and tights together, so the pairing found once on the neutral
    body holds for every body; computing it once per process keeps dressing fast. Body
    vertices farther than `max_distance` from the tights (hands, face, hair line) are left
    out: they are never hidden.
    """
    base = mpfb.load_base_mesh()
    verts = mpfb.body_vertices(mpfb.Phenotype())
    tights = verts[gr.tights_layout(verts).vertices]
    body_ids = base.vertex_groups["body"]
    nearest = np.empty(len(body_ids), dtype=np.int64)
    dist = np.empty(len(body_ids))
    for chunk in np.array_split(np.arange(len(body_ids)), 32):
        d = ((verts[body_ids[chunk]][:, None, :] - tights[None]) ** 2).sum(-1)
        nearest[chunk] = np.argmin(d, axis=1)
        dist[chunk] = np.sqrt(d[np.arange(len(chunk)), nearest[chunk]])
    keep = dist <= max_distance
    return body_ids[keep], nearest[keep]


def hide_covered_skin(outfit: Outfit, ctx: BodyContext, character) -> None:
    """Mask the body's skin under opaque garments (a vertex group + an inverted Mask modifier)."""
    body = ctx.body
    if body is None or body.type != "MESH":
        return
    hidden = covered_base_vertices(ctx, character)
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
