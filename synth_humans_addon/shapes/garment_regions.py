"""Which faces of the base mesh's helper geometry each garment covers (numpy only, no bpy).

Garments are cut out of two MakeHuman helpers that every macro target morphs along with the
body: ``helper-tights`` (a skin-tight suit over the whole body, ~5 mm above the skin) and
``helper-skirt``. Because the cut is defined on *base-mesh indices* by body region and by a
position along each limb measured between joint cubes, the same rule fits every body shape
without manual work.

Every tights vertex gets

* a `region` — torso, left/right arm, left/right leg — from the MakeHuman default rig's skin
  weights (the weights, not geometry, decide the armpit and groin borders, where a
  nearest-bone rule is ambiguous);
* a limb coordinate `s` for arm and leg vertices: 0 at the shoulder / hip joint, 1 at the
  elbow / knee, 2 at the wrist / ankle, 3 at the fingertips / toes (projection onto the
  polyline of joint cubes, so it scales with limb length);
* its height `z` (torso cuts such as the waist and the hem are heights between joints).

A `GarmentCut` is then a few numbers (sleeve end, hem height, leg end …) and `garment_faces`
turns it into face indices. The module is imported by the bpy side (`blender/clothes.py`) but has
no bpy dependency, so it is testable on its own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..core.mpfb import rig as mpfb_rig
from ..core.mpfb.assets import load_base_mesh

TORSO, ARM_L, ARM_R, LEG_L, LEG_R = 0, 1, 2, 3, 4
REGION_NAMES = ("torso", "arm_l", "arm_r", "leg_l", "leg_r")

# Bone-name stems of the MakeHuman default rig, by limb.
_ARM_STEMS = ("upperarm", "lowerarm", "wrist", "finger", "metacarpal")
_LEG_STEMS = ("upperleg", "lowerleg", "foot", "toe")

# Joint cubes along each limb: s = 0, 1, 2, 3 at these.
_ARM_CHAIN = ("shoulder", "elbow", "hand", "finger-3-4")
_LEG_CHAIN = ("upper-leg", "knee", "ankle", "foot-2")


@dataclass(frozen=True)
class BodyLandmarks:
    """Heights (z, metres) of torso landmarks on one morphed body, from its joint cubes."""

    ground: float
    knee: float
    crotch: float  # the hip joints' height: a T-shirt hem sits a little above
    pelvis: float
    waist: float  # where trousers and skirts start
    chest: float
    neck: float  # the collar's height
    head: float
    head_top: float
    height_scale: float  # body height / neutral body height (≈ 1)


@dataclass(frozen=True)
class TightsLayout:
    """Per-vertex region and limb coordinate of the tights helper (base-mesh indices)."""

    vertices: np.ndarray  # (V,) base-mesh vertex indices of helper-tights
    region: np.ndarray  # (V,) one of TORSO … LEG_R
    limb_s: np.ndarray  # (V,) limb coordinate (0 … 3) for arm/leg vertices, nan on the torso
    limb_axis: np.ndarray  # (V, 3) the limb segment (joint to next joint) each vertex projects on


@dataclass(frozen=True)
class GarmentCut:
    """The part of the tights a garment covers.

    Arms: vertices with ``s <= sleeve_end`` (< 0 means no sleeve at all). Legs: vertices with
    ``leg_start <= s <= leg_end``. Torso: vertices with ``torso_low <= z <= torso_high``
    (heights in metres on the morphed body); leg vertices above `torso_low` are included
    too, so a top's hem runs around the hips even where the rig weights the buttocks to the
    thigh bones.
    """

    sleeve_end: float = -1.0
    leg_start: float = 0.0
    leg_end: float = -1.0
    torso_low: float = np.inf
    torso_high: float = -np.inf


@functools.lru_cache(maxsize=1)
def _joint_cube_index() -> tuple[tuple[str, ...], np.ndarray]:
    """Names and (J, 8) vertex ids of the joint cubes (every ``joint-*`` group has 8 vertices)."""
    groups = load_base_mesh().vertex_groups
    names = tuple(sorted(n for n, idx in groups.items() if n.startswith("joint-") and len(idx) == 8))
    return names, np.stack([groups[n] for n in names])


def joint_positions(verts: np.ndarray) -> dict[str, np.ndarray]:
    """`core.mpfb.rig.joint_positions` in one vectorised gather (dressing asks for joints many times)."""
    names, index = _joint_cube_index()
    centres = verts[index].mean(axis=1)
    out = dict(zip(names, centres))
    if len(out) < sum(1 for n in load_base_mesh().vertex_groups if n.startswith("joint-")):
        out = {**mpfb_rig.joint_positions(verts), **out}  # a cube of another size: the general path
    return out


def _group_faces(group: str) -> np.ndarray:
    base = load_base_mesh()
    return base.faces[base.group_faces(group)]


@functools.lru_cache(maxsize=1)
def _region_of_tights() -> tuple[np.ndarray, np.ndarray]:
    """(vertex indices, region) of helper-tights, from the default rig's skin weights."""
    base = load_base_mesh()
    verts = base.vertex_groups["helper-tights"]
    weights = mpfb_rig.skin_weights("default")
    n = len(base.vertices)
    score = np.zeros((5, n))
    for bone, (idx, w) in weights.items():
        stem = bone.split(".")[0].rstrip("0123456789-")
        side = bone.rsplit(".", 1)[-1] if "." in bone else ""
        if stem.startswith(_ARM_STEMS):
            row = ARM_L if side == "L" else ARM_R
        elif stem.startswith(_LEG_STEMS):
            row = LEG_L if side == "L" else LEG_R
        else:
            row = TORSO
        score[row, idx] += w
    region = np.argmax(score[:, verts], axis=0)
    return verts, region


def _chain_coordinate(points: np.ndarray, chain: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Position of each point along a polyline of joints: k + t on segment k (nearest segment),
    and that segment's vector."""
    best_d = np.full(len(points), np.inf)
    best_s = np.zeros(len(points))
    axis = np.zeros((len(points), 3))
    for k in range(len(chain) - 1):
        a, b = chain[k], chain[k + 1]
        ab = b - a
        t = np.clip((points - a) @ ab / float(ab @ ab), 0.0, 1.0)
        d = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        closer = d < best_d
        best_d[closer] = d[closer]
        best_s[closer] = k + t[closer]
        axis[closer] = ab
    return best_s, axis


def tights_layout(verts: np.ndarray) -> TightsLayout:
    """Region and limb coordinate of every tights vertex on a morphed body (all base-mesh verts)."""
    idx, region = _region_of_tights()
    region = region.copy()
    joints = joint_positions(verts)
    # The rig weights the buttocks and the top of the thighs to the pelvis bones; below the
    # hip joints those are leg for the purpose of cutting (shorts must not keep a torso flap).
    crotch = 0.5 * (joints["joint-l-upper-leg"][2] + joints["joint-r-upper-leg"][2])
    low_torso = (region == TORSO) & (verts[idx, 2] < crotch)
    region[low_torso] = np.where(verts[idx[low_torso], 0] >= 0, LEG_L, LEG_R)
    limb_s = np.full(len(idx), np.nan)
    axis = np.zeros((len(idx), 3))
    for reg, side, chain in ((ARM_L, "l", _ARM_CHAIN), (ARM_R, "r", _ARM_CHAIN),
                             (LEG_L, "l", _LEG_CHAIN), (LEG_R, "r", _LEG_CHAIN)):
        sel = region == reg
        pts = [joints[f"joint-{side}-{j}"] for j in chain]
        limb_s[sel], axis[sel] = _chain_coordinate(verts[idx[sel]], pts)
    return TightsLayout(vertices=idx, region=region, limb_s=limb_s, limb_axis=axis)


def landmarks(verts: np.ndarray) -> BodyLandmarks:
    """Torso heights of a morphed body (all base-mesh vertices, Blender frame)."""
    j = joint_positions(verts)
    crotch = 0.5 * (j["joint-l-upper-leg"][2] + j["joint-r-upper-leg"][2])
    pelvis = j["joint-pelvis"][2]
    chest = j["joint-spine-1"][2]
    neck = j["joint-neck"][2]
    body = verts[load_base_mesh().vertex_groups["body"]]
    ground = float(body[:, 2].min())
    head_top = float(body[:, 2].max())
    # The neutral hm08 body is 1.66 m tall from sole to crown.
    return BodyLandmarks(
        ground=ground, knee=float(0.5 * (j["joint-l-knee"][2] + j["joint-r-knee"][2])), crotch=float(crotch), pelvis=float(pelvis),
        waist=float(pelvis + 0.45 * (j["joint-spine-3"][2] - pelvis)), chest=float(chest), neck=float(neck),
        head=float(j["joint-head"][2]), head_top=head_top, height_scale=(head_top - ground) / 1.66,
    )


def select_tights_vertices(layout: TightsLayout, verts: np.ndarray, cut: GarmentCut) -> np.ndarray:
    """Boolean mask over `layout.vertices`: the tights vertices a garment covers."""
    z = verts[layout.vertices, 2]
    s = layout.limb_s
    arm = (layout.region == ARM_L) | (layout.region == ARM_R)
    leg = (layout.region == LEG_L) | (layout.region == LEG_R)
    torso = layout.region == TORSO
    keep = torso & (z >= cut.torso_low) & (z <= cut.torso_high)
    keep |= arm & (s <= cut.sleeve_end)
    keep |= leg & (s >= cut.leg_start) & (s <= cut.leg_end)
    # Hips and buttocks weighted to the thighs belong to a top or trousers by height.
    keep |= leg & (s < 0.5) & (z >= cut.torso_low) & (z <= cut.torso_high)
    return keep


def faces_from_vertex_mask(faces: np.ndarray, vertex_ids: np.ndarray, mask: np.ndarray,
                           min_corners: int = 3) -> np.ndarray:
    """Faces (rows of `faces`, base-mesh vertex ids) with at least `min_corners` selected corners.

    Three of four corners gives a hem that follows the cut closely without ragged single
    faces; two would widen the garment by a ring.
    """
    selected = np.zeros(int(faces.max()) + 1, dtype=bool)
    selected[vertex_ids[mask]] = True
    return faces[selected[faces].sum(axis=1) >= min_corners]


def boundary_vertices(faces: np.ndarray) -> np.ndarray:
    """Vertex ids on the open border of a quad mesh (edges used by exactly one face)."""
    edges = np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)
    edges = np.sort(edges, axis=1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    return np.unique(uniq[count == 1])


@functools.lru_cache(maxsize=1)
def _tights_edges() -> np.ndarray:
    """Unique edges (pairs of base-mesh ids, both directions) of the tights helper."""
    faces = _group_faces("helper-tights")
    edges = np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    return np.concatenate([edges, edges[:, ::-1]])


def snap_hems(verts: np.ndarray, faces: np.ndarray, layout: TightsLayout, cut: GarmentCut,
              reach: float = 0.25, reach_z: float = 0.04) -> np.ndarray:
    """A copy of `verts` whose garment-border vertices are slid onto the cut.

    Faces are kept or dropped whole, so a raw hem zig-zags along the mesh's edges. Each
    border vertex is moved along one of its tights edges to the point where that edge
    crosses the cut (``s = cut`` on a limb, ``z = cut`` on the torso), so hems become
    straight rings while every vertex stays *on* the tights surface — moving vertices
    off the surface would let an inner layer (trousers under a top) poke through.
    Borders farther than `reach` (limb units) / `reach_z` (metres) from a cut stay put.
    """
    out = verts.copy()
    border = boundary_vertices(faces)
    pos = np.searchsorted(layout.vertices, border)
    ok = (pos < len(layout.vertices)) & (layout.vertices[np.minimum(pos, len(layout.vertices) - 1)] == border)
    border, pos = border[ok], pos[ok]
    region = layout.region[pos]
    # Corners outside the cut (faces with ≥ 2 corners inside are kept) always move in onto
    # the cut; corners inside move out only when the cut is near.
    outside = ~select_tights_vertices(layout, verts, cut)[pos]
    reach_limb = np.where(outside, np.inf, reach)
    reach_height = np.where(outside, np.inf, reach_z)
    arm = (region == ARM_L) | (region == ARM_R)
    leg = (region == LEG_L) | (region == LEG_R)
    # The cut value each border vertex snaps to, and which field (limb s or height z) it is in.
    target = np.full(len(border), np.nan)
    on_limb = np.zeros(len(border), dtype=bool)
    active = [(arm, cut.sleeve_end, cut.sleeve_end >= 0), (leg, cut.leg_end, 0 <= cut.leg_end < 2.9),
              (leg, cut.leg_start, cut.leg_start > 0 and cut.leg_end >= cut.leg_start)]
    s_border = layout.limb_s[pos]
    for mask, value, used in active:
        near = mask & (np.abs(s_border - value) < reach_limb) & np.isnan(target) if used else np.zeros_like(mask)
        target[near] = value
        on_limb |= near
    z_border = verts[border, 2]
    heights = np.array([cut.torso_low, cut.torso_high])
    heights = heights[np.isfinite(heights)]
    if len(heights):
        nearest = heights[np.argmin(np.abs(z_border[:, None] - heights[None, :]), axis=1)]
        near = np.isnan(target) & ~arm & (np.abs(z_border - nearest) < reach_height)
        target[near] = nearest[near]
    # Field values on every base vertex of the tights (nan elsewhere).
    s_all = np.full(len(verts), np.nan)
    s_all[layout.vertices] = layout.limb_s
    edges = _tights_edges()
    sel = np.isin(edges[:, 0], border)
    edges = edges[sel]
    order = np.searchsorted(border, edges[:, 0])  # border is sorted (np.unique)
    for use_limb in (True, False):
        f_all = s_all if use_limb else verts[:, 2]
        e_ok = (on_limb[order] == use_limb) & ~np.isnan(target[order])
        a, b, t = edges[e_ok, 0], edges[e_ok, 1], target[order[e_ok]]
        fa, fb = f_all[a], f_all[b]
        crossing = ((fa - t) * (fb - t) <= 0) & (fa != fb) & ~np.isnan(fb)
        a, b, t, fa, fb = a[crossing], b[crossing], t[crossing], fa[crossing], fb[crossing]
        w = (t - fa) / (fb - fa)
        # Several crossing edges per vertex: keep the shortest move.
        move = np.linalg.norm(verts[b] - verts[a], axis=1) * w
        best = np.lexsort((move, a))
        first = np.ones(len(best), dtype=bool)
        first[1:] = a[best][1:] != a[best][:-1]
        pick = best[first]
        out[a[pick]] = verts[a[pick]] + w[pick, None] * (verts[b[pick]] - verts[a[pick]])
    return out


def tights_faces(verts: np.ndarray, cut: GarmentCut, layout: TightsLayout | None = None) -> np.ndarray:
    """Quads (base-mesh vertex ids) of the tights helper covered by `cut` on this body."""
    layout = layout or tights_layout(verts)
    mask = select_tights_vertices(layout, verts, cut)
    # Two corners inside suffice: `snap_hems` then pulls the outside corners onto the cut.
    return faces_from_vertex_mask(_group_faces("helper-tights"), layout.vertices, mask, min_corners=2)


def skirt_faces(verts: np.ndarray, top_z: float, hem_z: float) -> np.ndarray:
    """Quads of the skirt helper between the hem height and the waist (metres)."""
    faces = _group_faces("helper-skirt")
    idx = load_base_mesh().vertex_groups["helper-skirt"]
    z = verts[idx, 2]
    mask = (z >= hem_z) & (z <= top_z)
    return faces_from_vertex_mask(faces, idx, mask)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of a quad mesh (rows of `faces` index `verts`)."""
    v = verts
    # The cross product of the diagonals is twice the (planar) quad's area along its normal.
    n = np.cross(v[faces[:, 2]] - v[faces[:, 0]], v[faces[:, 3]] - v[faces[:, 1]])
    out = np.zeros_like(v)
    for c in range(faces.shape[1]):
        np.add.at(out, faces[:, c], n)
    length = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, length, out=np.zeros_like(out), where=length > 0)


@dataclass(frozen=True)
class SubMesh:
    """A compact mesh cut out of the base mesh: `vertices[i]` is base vertex `source[i]`."""

    vertices: np.ndarray  # (n, 3)
    faces: np.ndarray  # (m, 4) indices into `vertices`
    source: np.ndarray  # (n,) base-mesh vertex ids


def submesh(verts: np.ndarray, faces: np.ndarray, offset: float | np.ndarray = 0.0) -> SubMesh:
    """Compact the quads `faces` (base ids) into a mesh, pushed `offset` metres along normals.

    `offset` may be per base-mesh vertex (an array over all of `verts`), so a garment can be
    looser in some places (a jacket's torso) than others.
    """
    source, inverse = np.unique(faces, return_inverse=True)
    local_faces = inverse.reshape(faces.shape)
    v = verts[source]
    normals = vertex_normals(v, local_faces)
    off = offset[source] if np.ndim(offset) else np.full(len(source), float(offset))
    return SubMesh(vertices=v + normals * off[:, None], faces=local_faces, source=source)
