"""Every mesh of one character's outfit, in numpy: what `blender/clothes.dress` builds, without bpy.

`dress` turns these same calls into Blender objects; this module exists so that a whole
dataset can be checked for geometry failures (a garment that selects no faces on some body)
in seconds per hundred characters, on any machine, before a farm spends hours on it
(`scripts/check_outfits.py`, `tests/clothes/test_outfit_coverage.py`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.mpfb.phenotype import Phenotype, body_vertices
from . import garment_regions as gr
from .accessories import accessory_geometry, accessory_side
from .garments import covered_base_vertices, garment_mesh
from .hair import hair_clearance, hair_geometry, style_variation


@dataclass(frozen=True)
class OutfitGeometry:
    """Face counts by part (``bottom``, ``top``, ``shoes``, ``hair``, accessory kinds)."""

    faces: dict[str, int]
    hidden_skin_vertices: int


def body_of(character) -> np.ndarray:
    """The morphed rest-pose base-mesh vertices of a `sampling.CharacterSample`'s body."""
    return body_vertices(Phenotype.from_body_sample(character.body))


def outfit_geometry(character, verts: np.ndarray | None = None) -> OutfitGeometry:
    """Build every garment, hair and accessory mesh of `character`, in `dress`'s order.

    Raises what the geometry raises (e.g. ValueError for a garment with no faces)."""
    verts = body_of(character) if verts is None else verts
    layout = gr.tights_layout(verts)
    faces: dict[str, int] = {}
    for role in ("bottom", "top", "shoes"):
        g = getattr(character, role)
        if g is not None:
            top = character.top.kind if role == "bottom" and character.top is not None else None
            faces[role] = len(garment_mesh(g.kind, verts, g.seed, layout, top).faces)
    clearance = 0.0
    if character.hair is not None:
        h = character.hair
        variation = style_variation(h)
        faces["hair"] = sum(len(p.faces) for p in hair_geometry(verts, h.style, variation, h.volume, h.ragged))
        clearance = hair_clearance(verts, h.style, variation, h.volume)
    for a in character.accessories:
        parts = accessory_geometry(verts, a.kind, clearance, accessory_side(a.color))
        faces[a.kind] = sum(len(p.faces) for p in parts)
    hidden = covered_base_vertices(verts, character)
    return OutfitGeometry(faces=faces, hidden_skin_vertices=len(hidden))


def check_characters(spec, indices) -> list[tuple[int, str]]:
    """(index, error) for every character of `spec` among `indices` whose outfit cannot be
    built, or that has a part with no faces. An empty list means all of them dress."""
    from ..core import sampling

    splits = sampling.assign_splits(spec)
    failures = []
    for i in indices:
        c = sampling.expand_character(spec, i, splits[i])
        try:
            geo = outfit_geometry(c)
        except Exception as exc:  # noqa: BLE001 (report every kind of failure by character)
            failures.append((i, f"{type(exc).__name__}: {exc}"))
            continue
        empty = [part for part, n in geo.faces.items() if n == 0]
        if empty:
            failures.append((i, f"parts with no faces: {', '.join(empty)}"))
    return failures
