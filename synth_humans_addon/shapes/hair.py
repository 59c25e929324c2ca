"""Hair styles generated on the morphed head: short, medium, long, ponytail, bun.

At re-id resolutions (a head is 25–40 px tall) hair reads through its silhouette and
colour, not through strands, so every style is a few hundred polygons:

* a **cap**: the body's own scalp faces above a hairline (high on the forehead, at the ears
  on the sides, down to the nape behind), pushed out along the normals by the hair's
  thickness;
* for medium and long hair, a **curtain**: a sheet around the back and sides of the head
  that falls straight down (it never curves back in under the skull), hugging the body's
  outline found by binning the body's vertices in cylindrical coordinates around the head
  axis. It ends at the chin/shoulders (medium) or on the back (long), shorter at the sides
  where the shoulders are;
* a tapered **tube** (ponytail) or a **sphere** (bun) at the back of the head.

The cap follows the head bone; curtain and ponytail rows below the neck blend to the chest
bone so long hair stays on the back when the torso turns. The geometry is computed by the
pure-numpy functions here (`hair_geometry`), so its shape is testable without Blender;
`blender/clothes.add_hair` turns it into skinned objects.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..core.mpfb.assets import load_base_mesh
from ..core.spec import HAIR_STYLES
from . import garment_regions as gr

_THICKNESS = {"short": 0.009, "medium": 0.012, "long": 0.013, "ponytail": 0.006, "bun": 0.006}


@dataclass(frozen=True)
class HeadFrame:
    """Where the head is on one morphed body (metres, rest pose)."""

    center: np.ndarray  # a point on the skull's vertical axis, at the ears' height
    eye_z: float
    top_z: float
    neck_z: float
    shoulder_z: float
    chest_z: float
    scale: float  # head size relative to the neutral body's


def head_frame(verts: np.ndarray) -> HeadFrame:
    j = gr.joint_positions(verts)
    body = verts[load_base_mesh().vertex_groups["body"]]
    top = float(body[:, 2].max())
    center = j["joint-head"].copy()
    eye_z = float(0.5 * (j["joint-l-eye"][2] + j["joint-r-eye"][2]))
    return HeadFrame(
        center=center, eye_z=eye_z, top_z=top, neck_z=float(j["joint-neck"][2]),
        shoulder_z=float(0.5 * (j["joint-l-shoulder"][2] + j["joint-r-shoulder"][2])),
        chest_z=float(j["joint-spine-1"][2]), scale=(top - float(j["joint-neck"][2])) / 0.245,
    )


def style_variation(hair) -> float:
    """Where this person's hair lies within its style's length range, in [0, 1].

    Sampled per person (`HairSample.length`); samples from before that field existed fall
    back to a stable hash of style and colour.
    """
    length = getattr(hair, "length", None)
    if length is not None:
        return min(1.0, max(0.0, float(length)))
    return (zlib.crc32(f"{hair.style}|{hair.color}|{hair.palette}".encode()) % 10007) / 10007.0


def _azimuth(points: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Angle around the head's vertical axis: 0 in front (−Y), ±π behind."""
    return np.arctan2(points[:, 0] - center[0], -(points[:, 1] - center[1]))


def scalp_faces(verts: np.ndarray, frame: HeadFrame, front_height: float = 0.5) -> np.ndarray:
    """Quads of the body's scalp above a hairline (base-mesh vertex ids).

    The hairline is `front_height` of the way from the eyes to the crown in front, near the
    ears' top on the sides and low on the nape behind, blended smoothly by azimuth.
    """
    base = load_base_mesh()
    body_ids = base.vertex_groups["body"]
    p = verts[body_ids]
    front_z = frame.eye_z + front_height * (frame.top_z - frame.eye_z)
    nape_z = frame.neck_z + 0.35 * (frame.center[2] - frame.neck_z)
    phi = _azimuth(p, frame.center)
    blend = ((1.0 + np.cos(phi)) / 2.0) ** 1.6  # 1 in front, 0 behind
    line = nape_z + (front_z - nape_z) * blend
    near_head = np.hypot(p[:, 0] - frame.center[0], p[:, 1] - frame.center[1]) < 0.16 * frame.scale
    mask = (p[:, 2] >= line) & near_head & (p[:, 2] > frame.neck_z)
    return gr.faces_from_vertex_mask(base.faces[base.group_faces("body")], body_ids, mask, min_corners=4)


def _outline(verts: np.ndarray, frame: HeadFrame, phis: np.ndarray, zs: np.ndarray, gap: float) -> np.ndarray:
    """Radius of a sheet around the body at each (z, azimuth), `gap` outside the body, never
    narrowing downwards (hair falls, it does not tuck under the skull)."""
    body = verts[load_base_mesh().vertex_groups["body"]]
    c = frame.center
    # Only the head, neck and the middle of the back: shoulders and arms must not widen the
    # sheet into a cape (hair falls behind the shoulders, not over them).
    torso = np.abs(body[:, 0] - c[0]) < 0.1 * frame.scale
    b = body[torso]
    r = np.hypot(b[:, 0] - c[0], b[:, 1] - c[1])
    phi = _azimuth(b, c)
    dphi = phis[1] - phis[0] if len(phis) > 1 else 1.0
    dz = abs(zs[1] - zs[0]) if len(zs) > 1 else 0.05
    out = np.zeros((len(zs), len(phis)))
    # Wrapped angular distance, bins two cells wide so no vertex falls between samples.
    for i, z in enumerate(zs):
        band = np.abs(b[:, 2] - z) <= dz
        if not band.any():
            continue
        d = np.abs((phi[band][None, :] - phis[:, None] + np.pi) % (2 * np.pi) - np.pi)
        rr = np.where(d <= dphi, r[band][None, :], 0.0)
        out[i] = rr.max(axis=1)
    out = np.maximum.accumulate(out, axis=0)  # rows go downwards
    return out + gap


def curtain(verts: np.ndarray, frame: HeadFrame, length_z: float, side_z: float, gap: float,
            half_angle_deg: float = 115.0, columns: int = 25, rows: int = 14,
            slab: float = 0.015, ragged: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and quads of a mass of hair around the back of the head.

    It spans azimuths ±`half_angle_deg` around the back, from near the crown down to
    `length_z` behind and `side_z` at its side edges, `slab` metres thick at its ends.
    `ragged` (metres): each column's end moves up or down by up to that much, so the hair
    ends in locks rather than one straight cut.
    """
    c = frame.center
    half = np.radians(half_angle_deg)
    phis = np.pi + np.linspace(-half, half, columns)  # π = straight behind
    phis = (phis + np.pi) % (2 * np.pi) - np.pi
    top = frame.top_z - 0.035 * frame.scale
    t = np.linspace(0.0, 1.0, rows)
    side_weight = np.clip(np.abs(np.linspace(-1.0, 1.0, columns)) * 1.6 - 0.45, 0.0, 1.0)  # 0 behind, 1 at the sides
    bottom = length_z + (max(side_z, length_z) - length_z) * side_weight
    if ragged > 0:
        locks = np.random.default_rng(seed).uniform(-1.0, 1.0, columns)
        locks = np.convolve(np.pad(locks, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")  # locks, not single spikes
        bottom = bottom + ragged * locks * (1.0 - 0.7 * side_weight)
    z = top + (bottom[None, :] - top) * t[:, None]  # (rows, columns)
    zs = np.linspace(top, float(bottom.min()), 2 * rows)
    radius_table = _outline(verts, frame, phis, zs, gap)
    r = np.empty_like(z)
    for k in range(columns):
        r[:, k] = np.interp(-z[:, k], -zs, radius_table[:, k])
    # The sheet spreads a little towards its ends, as real hair does, and closes onto the
    # head at its side edges (no visible gap between hair and temple).
    r += 0.008 * frame.scale * t[:, None] ** 1.5
    r -= (gap + 0.006 * frame.scale) * side_weight[None, :] ** 2
    # A closed slab, not a sheet: an outer and an inner surface joined at the rims, so the
    # hair has a visible thickness at its edges instead of showing a paper-thin plate.
    inner_r = np.maximum(r - slab * (0.4 + 0.6 * t[:, None]), 0.5 * r)
    layers = [np.stack([c[0] + rr * np.sin(phis)[None, :], c[1] - rr * np.cos(phis)[None, :], z], axis=-1)
              for rr in (r, inner_r)]
    v = np.concatenate([layer.reshape(-1, 3) for layer in layers])
    n = rows * columns
    out_idx = np.arange(n).reshape(rows, columns)
    in_idx = out_idx + n
    # Winding so normals face outwards (away from the head axis) on the outer layer.
    outer = np.stack([out_idx[:-1, :-1], out_idx[1:, :-1], out_idx[1:, 1:], out_idx[:-1, 1:]], axis=-1).reshape(-1, 4)
    inner = np.stack([in_idx[:-1, :-1], in_idx[:-1, 1:], in_idx[1:, 1:], in_idx[1:, :-1]], axis=-1).reshape(-1, 4)

    def rim(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # quads joining two matching vertex rows
        return np.stack([a[:-1], a[1:], b[1:], b[:-1]], axis=-1)

    rims = [rim(out_idx[-1], in_idx[-1]), rim(in_idx[0], out_idx[0]),
            rim(out_idx[:, 0], in_idx[:, 0])[:, ::-1], rim(in_idx[:, -1], out_idx[:, -1])[:, ::-1]]
    return v, np.concatenate([outer, inner, *rims])


def tube(path: np.ndarray, radii: np.ndarray, sides: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A closed-end tube along `path` (n, 3) with radius per point: vertices and quads/tris."""
    n = len(path)
    tangents = np.gradient(path, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    ring = []
    for i in range(n):
        # A reference axis not parallel to the tangent (a tube may run along x, like a bridge).
        ref = np.eye(3)[int(np.argmin(np.abs(tangents[i])))]
        u = np.cross(tangents[i], ref)
        u /= np.linalg.norm(u)
        w = np.cross(tangents[i], u)
        ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
        ring.append(path[i] + radii[i] * (np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * w))
    v = np.concatenate(ring + [path[:1], path[-1:]])
    faces = []
    for i in range(n - 1):
        for k in range(sides):
            a, b = i * sides + k, i * sides + (k + 1) % sides
            faces.append([a, b, b + sides, a + sides])
    cap0, cap1 = n * sides, n * sides + 1
    for k in range(sides):  # end caps as degenerate quads (a triangle with a repeated corner)
        faces.append([cap0, cap0, (k + 1) % sides, k])
        faces.append([cap1, cap1, (n - 1) * sides + k, (n - 1) * sides + (k + 1) % sides])
    return v, np.asarray(faces)


def sphere(center: np.ndarray, radius: np.ndarray | float, rings: int = 6, segments: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere (ellipsoid if `radius` is a 3-vector): vertices and quads."""
    radius = np.broadcast_to(np.asarray(radius, dtype=float), (3,))
    theta = np.linspace(0, np.pi, rings + 1)
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    pts = np.stack([st * np.cos(phi)[None], st * np.sin(phi)[None], np.broadcast_to(ct, (rings + 1, segments))], -1)
    v = center + pts.reshape(-1, 3) * radius
    idx = np.arange((rings + 1) * segments).reshape(rings + 1, segments)
    nxt = np.roll(idx, -1, axis=1)
    faces = np.stack([idx[:-1], idx[1:], nxt[1:], nxt[:-1]], axis=-1).reshape(-1, 4)
    return v, faces


@dataclass(frozen=True)
class HairPart:
    """One mesh of a hairstyle in the rest pose; `head_weight` per vertex (1 = head bone,
    the rest goes to the chest bone)."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    head_weight: np.ndarray


def hair_clearance(verts: np.ndarray, style: str, variation: float = 0.5, volume: float = 1.0) -> float:
    """How far (metres) a hairstyle stands off the scalp on top: headwear goes over this."""
    s = head_frame(verts).scale
    thickness = _THICKNESS[style] * s * (0.8 + 0.5 * variation) * volume
    return thickness + (0.004 * s if style in ("medium", "long") else 0.0)


def hair_geometry(verts: np.ndarray, style: str, variation: float = 0.5, volume: float = 1.0,
                  ragged: float = 0.0) -> list[HairPart]:
    """The meshes of a hairstyle on a body (`verts`: all morphed base-mesh vertices).

    `variation` in [0, 1) varies length and volume within the style; `volume` multiplies
    the thickness over the scalp and of long hair's mass; `ragged` makes medium and long
    hair end in uneven locks (± `ragged` × 10 cm) instead of one straight hem.
    """
    if style not in HAIR_STYLES:
        raise ValueError(f"hair.style = {style!r} is not one of {HAIR_STYLES}")
    f = head_frame(verts)
    s = f.scale
    thickness = _THICKNESS[style] * s * (0.8 + 0.5 * variation) * volume
    front = {"short": 0.45, "medium": 0.42, "long": 0.4, "ponytail": 0.45, "bun": 0.45}[style]
    cap_faces = scalp_faces(verts, f, front_height=front - 0.1 * variation)
    cap = gr.submesh(verts, cap_faces, thickness)
    parts = [HairPart("cap", cap.vertices, cap.faces, np.ones(len(cap.vertices)))]

    def blend(v: np.ndarray) -> np.ndarray:
        return np.clip((v[:, 2] - f.chest_z) / max(f.neck_z - f.chest_z, 1e-3), 0.0, 1.0)

    if style in ("medium", "long"):
        if style == "medium":
            # From the jaw to just above the shoulders.
            length = f.neck_z - (0.01 + 0.06 * variation) * s
            side = length + 0.02 * s
        else:
            # From the shoulder blades to the middle of the back.
            length = f.shoulder_z - (0.06 + 0.2 * variation) * s
            side = f.neck_z + 0.01 * s  # the side locks end above the shoulders
        v, faces = curtain(verts, f, length_z=length, side_z=side, gap=0.6 * thickness + 0.002 * s,
                           half_angle_deg=112.0 if style == "medium" else 105.0, slab=0.015 * volume,
                           ragged=0.1 * ragged * s, seed=int(variation * 10007))
        parts.append(HairPart("curtain", v, faces, blend(v)))
    elif style == "ponytail":
        c = f.center
        back = verts[load_base_mesh().vertex_groups["body"]]
        head_back = float(back[np.abs(back[:, 2] - c[2]) < 0.03 * s][:, 1].max())
        start = np.array([c[0], head_back + 0.015 * s, c[2] + 0.02 * s])
        length = (0.18 + 0.14 * variation) * s
        t = np.linspace(0, 1, 7)
        path = start + np.stack([np.zeros_like(t), 0.05 * s * np.sin(np.pi * t * 0.6) + 0.01 * s,
                                 -length * t], -1)
        # Keep the tail clear of the upper back.
        back_y = float(back[(back[:, 2] < c[2] - 0.1 * s) & (back[:, 2] > c[2] - 0.35 * s)][:, 1].max())
        path[:, 1] = np.maximum(path[:, 1], np.where(path[:, 2] < f.neck_z, back_y + 0.03 * s, -np.inf))
        radii = (0.028 - 0.016 * t) * s
        v, faces = tube(path, radii)
        parts.append(HairPart("ponytail", v, faces, blend(v)))
    elif style == "bun":
        c = f.center
        center = np.array([c[0], c[1] + 0.095 * s, c[2] + (0.08 + 0.04 * variation) * s])
        v, faces = sphere(center, np.array([0.045, 0.04, 0.04]) * s * (0.9 + 0.3 * variation))
        parts.append(HairPart("bun", v, faces, np.ones(len(v))))
    return parts
