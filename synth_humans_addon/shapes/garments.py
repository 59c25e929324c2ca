"""Garment shapes on a morphed body, in numpy: which faces, how far out, where hems end.

`garment_mesh(kind, verts, seed)` is the rest-pose mesh of a top, bottom or shoe kind on a
body (all morphed base-mesh vertices); `garment_cut` says which part of the tights helper
it covers; `covered_base_vertices` which body vertices are hidden under opaque garments.
No bpy here: `blender/clothes.py` turns these meshes into skinned Blender objects, and the tests
check the shapes without Blender.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.mpfb.assets import load_base_mesh, to_blender_frame
from . import garment_regions as gr

# Offsets along the normals, metres above the tights helper (itself ~5 mm above the skin).
# Layer order, inside out: trousers/shorts < skirt < shoes/top < jacket.
_OFFSET = {
    "trousers": 0.003, "shorts": 0.004, "skirt": 0.004, "tshirt": 0.007, "longsleeve": 0.007,
    "jacket": 0.017, "shoes": 0.008, "boots": 0.009,
}


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


# The least skirt that shows below a top's hem, metres (× height scale). A long jacket over a
# short skirt once left a band thinner than one row of the skirt helper (~4.5 cm): no faces.
MIN_SKIRT_BELOW_TOP = 0.12


def skirt_span(lm: gr.BodyLandmarks, seed: int, under_top: str | None = None) -> tuple[float, float]:
    """(top, hem) heights of a skirt: knee-length ± a hand (mid-thigh to mid-calf), tucked
    under `under_top`'s hem, and always at least `MIN_SKIRT_BELOW_TOP` long below it."""
    hem = lm.knee + (lm.crotch - lm.knee) * (0.6 - 1.0 * _unit(seed, 1))
    top_z = lm.waist
    if under_top is not None:
        top_z = min(top_z, garment_cut(under_top, lm).torso_low + 0.02 * lm.height_scale)
    return top_z, min(hem, top_z - MIN_SKIRT_BELOW_TOP * lm.height_scale)


def cut_faces(verts: np.ndarray, cut: gr.GarmentCut, layout: gr.TightsLayout, tries: int = 4) -> np.ndarray:
    """The tights faces of `cut`; if a body leaves none (a band narrower than one ring of the
    tights), the cut is widened step by step (1.5 cm of height, 0.08 of a limb each side)
    so a valid sample always gets its garment instead of failing the whole character."""
    faces = gr.tights_faces(verts, cut, layout)
    for k in range(1, tries + 1):
        if len(faces):
            break
        dz, ds = 0.015 * k, 0.08 * k
        wider = gr.GarmentCut(
            sleeve_end=cut.sleeve_end + ds if cut.sleeve_end >= 0 else cut.sleeve_end,
            leg_start=cut.leg_start - ds if cut.leg_end >= 0 else cut.leg_start,
            leg_end=cut.leg_end + ds if cut.leg_end >= 0 else cut.leg_end,
            torso_low=cut.torso_low - dz, torso_high=cut.torso_high + dz)
        faces = gr.tights_faces(verts, wider, layout)
    return faces


def garment_mesh(kind: str, verts: np.ndarray, seed: int = 0,
                 layout: gr.TightsLayout | None = None, under_top: str | None = None) -> gr.SubMesh:
    """The rest-pose mesh of one garment on a body (`verts`: all morphed base-mesh vertices).

    `under_top`: the kind of top worn over a skirt; the skirt then starts just above the
    top's hem (tucked in), because the skirt helper flares far out from the hips and would
    otherwise poke through the top.
    """
    lm = gr.landmarks(verts)
    if kind == "skirt":
        top_z, hem = skirt_span(lm, seed, under_top)
        faces = gr.skirt_faces(verts, top_z=top_z, hem_z=hem)
        if len(faces) == 0:  # fallback: the whole skirt helper below the top (a long skirt)
            faces = gr.skirt_faces(verts, top_z=top_z, hem_z=-np.inf)
        shaped = verts
    else:
        layout = layout or gr.tights_layout(verts)
        cut = garment_cut(kind, lm, seed)
        faces = cut_faces(verts, cut, layout)
        shaped = gr.snap_hems(verts, faces, layout, cut) if len(faces) else verts
    if len(faces) == 0:  # both rules failed: a broken body mesh, not a valid sample
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


def covered_base_vertices(verts: np.ndarray, character) -> np.ndarray:
    """Base-mesh ids of *body* vertices under an opaque garment (safe to hide).

    A body vertex is covered when the nearest tights vertex is covered by a garment cut
    shrunk a little (a sleeve hides skin only up to 3 cm before its end), so skin never
    shows a gap at a hem.
    """
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
    base = load_base_mesh()
    verts = to_blender_frame(base.vertices)  # the unmorphed base mesh is a fine neutral body
    tights = verts[base.vertex_groups["helper-tights"]]  # the order of `TightsLayout.vertices`
    body_ids = base.vertex_groups["body"]
    body = verts[body_ids]
    nearest = np.zeros(len(body_ids), dtype=np.int64)
    dist = np.full(len(body_ids), np.inf)
    # Brute force within horizontal slabs (sorted by height): only tights vertices within
    # `max_distance` in z can be near enough, so each slab compares a few hundred points.
    order_b = np.argsort(body[:, 2])
    order_t = np.argsort(tights[:, 2])
    zt = tights[order_t, 2]
    for chunk in np.array_split(order_b, 120):
        z0, z1 = body[chunk, 2].min() - max_distance, body[chunk, 2].max() + max_distance
        cand = order_t[np.searchsorted(zt, z0):np.searchsorted(zt, z1, side="right")]
        if len(cand) == 0:
            continue
        d = ((body[chunk][:, None, :] - tights[cand][None]) ** 2).sum(-1)
        best = np.argmin(d, axis=1)
        nearest[chunk] = cand[best]
        dist[chunk] = np.sqrt(d[np.arange(len(chunk)), best])
    keep = dist <= max_distance
    return body_ids[keep], nearest[keep]


