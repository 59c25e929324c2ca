"""Accessories sized to the body and attached to bones: backpack, shoulder bag, cap, hat, glasses.

Every accessory is a few low-poly procedural meshes computed in numpy from the morphed body
(`accessory_geometry`): sizes and placements come from the joint cubes and the body's own
outline, so a backpack sits on the back of a slim and of a heavy person alike, and straps
wrap over the actual shoulders. Each part is then parented rigidly to a bone (semantic names
via `rig.bone_name`), so it follows every pose without an Armature modifier to evaluate.
No bpy here: `blender/clothes.add_accessory` builds and parents the objects.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..core.mpfb.assets import load_base_mesh
from ..core.spec import ACCESSORY_KINDS
from .hair import head_frame, scalp_faces, tube
from . import garment_regions as gr


@dataclass(frozen=True)
class AccessoryPart:
    """One rigid mesh of an accessory in the rest pose, and the semantic bone it rides on."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    bone: str  # semantic bone name (rig.bone_name)
    shade: float = 1.0  # colour multiplier (straps and lenses darker than the bag / frame)


def superellipsoid(center, half_size, exponent: float = 0.35, rings: int = 8, segments: int = 14):
    """A rounded box: |x|^(2/e) + … = 1 surfaces with e < 1 (e = 1 is an ellipsoid)."""
    theta = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)
    phi = np.linspace(-np.pi, np.pi, segments, endpoint=False)

    def f(w, e):
        return np.sign(np.cos(w)) * np.abs(np.cos(w)) ** e, np.sign(np.sin(w)) * np.abs(np.sin(w)) ** e

    ct, st = f(theta, exponent)
    cp, sp = f(phi, exponent)
    x = ct[:, None] * cp[None, :]
    y = ct[:, None] * sp[None, :]
    z = np.broadcast_to(st[:, None], x.shape)
    v = np.stack([x, y, z], -1).reshape(-1, 3) * np.asarray(half_size) + np.asarray(center)
    idx = np.arange((rings + 1) * segments).reshape(rings + 1, segments)
    nxt = np.roll(idx, -1, axis=1)
    faces = np.stack([idx[:-1], nxt[:-1], nxt[1:], idx[1:]], -1).reshape(-1, 4)
    return v, faces


def wrap_over(points: np.ndarray, center_yz: np.ndarray, angles: np.ndarray, gap: float) -> np.ndarray:
    """(y, z) of a path around a cloud of points in the y-z plane, `gap` outside it.

    For each angle (0 = +y behind, π/2 = up, π = −y in front) the path is at the farthest
    point of the cloud in that direction (±6°) plus the gap.
    """
    d = points - center_yz
    r = np.hypot(d[:, 0], d[:, 1])
    a = np.arctan2(d[:, 1], d[:, 0])
    out = []
    for ang in angles:
        near = np.abs((a - ang + np.pi) % (2 * np.pi) - np.pi) < np.radians(6)
        radius = (r[near].max() if near.any() else r.min()) + gap
        out.append(center_yz + radius * np.array([np.cos(ang), np.sin(ang)]))
    return np.asarray(out)


@dataclass(frozen=True)
class _Torso:
    back_y: float  # the upper back's farthest point behind (+y)
    front_y: float  # the chest's farthest point in front (−y)
    shoulder_z: float
    chest_z: float
    waist_z: float
    crotch_z: float
    hip_half_width: float
    shoulder_half_width: float
    scale: float


def _torso(verts: np.ndarray) -> _Torso:
    j = gr.joint_positions(verts)
    lm = gr.landmarks(verts)
    body = verts[load_base_mesh().vertex_groups["body"]]
    shoulder_z = float(0.5 * (j["joint-l-shoulder"][2] + j["joint-r-shoulder"][2]))
    sw = float(0.5 * (j["joint-l-shoulder"][0] - j["joint-r-shoulder"][0]))
    core = body[(np.abs(body[:, 0]) < 0.6 * sw) & (body[:, 2] > lm.waist) & (body[:, 2] < shoulder_z)]
    hips = body[(np.abs(body[:, 2] - lm.crotch - 0.05) < 0.04) & (np.abs(body[:, 0]) < 1.4 * sw)]
    return _Torso(back_y=float(core[:, 1].max()), front_y=float(core[:, 1].min()), shoulder_z=shoulder_z,
                  chest_z=lm.chest, waist_z=lm.waist, crotch_z=lm.crotch,
                  hip_half_width=float(np.abs(hips[:, 0]).max()), shoulder_half_width=sw, scale=lm.height_scale)


def _strap(verts: np.ndarray, x: float, z_low_back: float, z_low_front: float, y_back: float, gap: float,
           width: float) -> tuple[np.ndarray, np.ndarray]:
    """A strap in the plane at `x`: from the back at `z_low_back` over the shoulder to the front."""
    body = verts[load_base_mesh().vertex_groups["body"]]
    j = gr.joint_positions(verts)
    # The slice of the torso under the strap, up to the base of the neck (not the head or ears).
    slab = body[(np.abs(body[:, 0] - x) < 0.012) & (body[:, 2] > min(z_low_back, z_low_front) - 0.05)
                & (body[:, 2] < j["joint-neck"][2])]
    center = np.array([float(np.median(slab[:, 1])), float(min(z_low_back, z_low_front))])
    angles = np.linspace(np.radians(10), np.radians(172), 16)
    yz = wrap_over(slab[:, 1:], center, angles, gap)
    # Join the backpack's top behind, and end on the front of the chest.
    yz = np.vstack([[max(y_back, yz[0, 0]), z_low_back], yz, [yz[-1, 0], z_low_front]])
    path = np.column_stack([np.full(len(yz), x), yz])
    return _flat_band(path, width)


def _flat_band(path: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """A thin band (two-sided strip, quads) along `path`, `width` wide across the x axis."""
    half = np.array([width / 2, 0.0, 0.0])
    v = np.vstack([path - half, path + half])
    n = len(path)
    faces = np.array([[i, i + 1, n + i + 1, n + i] for i in range(n - 1)])
    return v, faces


def _head_band(verts: np.ndarray, z: float) -> tuple[float, float, float]:
    """(half width, front y, back y) of the head at height z."""
    body = verts[load_base_mesh().vertex_groups["body"]]
    f = head_frame(verts)
    ring = body[(np.abs(body[:, 2] - z) < 0.008) & (np.hypot(body[:, 0], body[:, 1] - f.center[1]) < 0.15 * f.scale)]
    return float(np.abs(ring[:, 0]).max()), float(ring[:, 1].min()), float(ring[:, 1].max())


def _brim(center_xy, rx: float, ry: float, z: float, width_front: float, width_side: float,
          half_angle: float, droop: float, segments: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A brim (annulus sector) around an ellipse; `half_angle` = π for a full brim, around −y."""
    ang = np.linspace(-half_angle, half_angle, segments + (0 if half_angle < np.pi else 0))
    # Angle 0 points to the front (−y).
    dirx, diry = np.sin(ang), -np.cos(ang)
    front_weight = (1 + np.cos(ang)) / 2
    width = width_side + (width_front - width_side) * front_weight
    inner = np.column_stack([center_xy[0] + rx * dirx, center_xy[1] + ry * diry, np.full_like(ang, z)])
    outer = np.column_stack([center_xy[0] + (rx + width) * dirx, center_xy[1] + (ry + width) * diry,
                             z - droop * width / max(width_front, 1e-6)])
    v = np.vstack([inner, outer])
    n = len(ang)
    last = n if half_angle >= np.pi else n - 1
    faces = np.array([[i, (i + 1) % n, n + (i + 1) % n, n + i] for i in range(last)])
    return v, faces


def accessory_geometry(verts: np.ndarray, kind: str, hair_clearance: float = 0.0,
                       side: int = 1) -> list[AccessoryPart]:
    """The rest-pose meshes of an accessory on a body (`verts`: all morphed base-mesh vertices).

    `hair_clearance`: how far hair sticks out from the scalp (headwear sits on top of it);
    `side`: +1 / −1, the character's left or right (shoulder bag).
    """
    if kind not in ACCESSORY_KINDS:
        raise ValueError(f"accessory kind {kind!r} is not one of {ACCESSORY_KINDS}")
    if kind in ("backpack", "shoulder_bag"):
        t = _torso(verts)
        s = t.scale
        if kind == "backpack":
            half = np.array([0.62 * t.shoulder_half_width + 0.04 * s, 0.075 * s, 0.2 * s])
            top = t.shoulder_z - 0.02 * s
            center = np.array([0.0, t.back_y + half[1] + 0.012 * s, top - half[2]])
            v, f = superellipsoid(center, half, 0.3)
            parts = [AccessoryPart("bag", v, f, "upper_chest")]
            for x in (-1, 1):
                sv, sf = _strap(verts, x * 0.5 * t.shoulder_half_width, top - 0.03 * s, t.chest_z - 0.1 * s,
                                t.back_y + 0.012 * s, 0.008 * s, 0.045 * s)
                parts.append(AccessoryPart(f"strap-{'l' if x > 0 else 'r'}", sv, sf, "upper_chest", 0.6))
            return parts
        half = np.array([0.045 * s, 0.12 * s, 0.1 * s])  # narrow across x: it hangs against the hip
        center = np.array([side * (t.hip_half_width + half[0] + 0.01 * s), 0.02 * s, t.crotch_z + 0.0 * s])
        v, f = superellipsoid(center, half, 0.3)
        sv, sf = _strap(verts, side * 0.55 * t.shoulder_half_width, t.chest_z - 0.05 * s, t.chest_z - 0.05 * s,
                        t.back_y, 0.008 * s, 0.03 * s)
        # Down the side to the bag, front and back.
        top = center[2] + half[2]
        front_drop = np.array([[side * 0.55 * t.shoulder_half_width, sv[len(sv) // 2 - 1, 1], t.chest_z - 0.05 * s],
                               [center[0], center[1] - half[1] * 0.6, top]])
        back_drop = np.array([[center[0], center[1] + half[1] * 0.6, top],
                              [side * 0.55 * t.shoulder_half_width, sv[0, 1], t.chest_z - 0.05 * s]])
        dv1, df1 = _flat_band(front_drop, 0.03 * s)
        dv2, df2 = _flat_band(back_drop, 0.03 * s)
        return [AccessoryPart("bag", v, f, "hips"), AccessoryPart("strap", sv, sf, "upper_chest", 0.6),
                AccessoryPart("strap-front", dv1, df1, "upper_chest", 0.6),
                AccessoryPart("strap-back", dv2, df2, "upper_chest", 0.6)]

    fr = head_frame(verts)
    s = fr.scale
    if kind == "glasses":
        j = gr.joint_positions(verts)
        parts = []
        eye_front = float(min(j["joint-l-eye"][1], j["joint-r-eye"][1]))
        lens_y = eye_front - 0.022 * s
        for name in ("l", "r"):
            e = j[f"joint-{name}-eye"]
            v, f = superellipsoid([e[0], lens_y, e[2] - 0.002 * s], [0.02 * s, 0.003 * s, 0.015 * s], 0.3, 4, 10)
            parts.append(AccessoryPart(f"lens-{name}", v, f, "head", 0.5))
        ex = float(abs(j["joint-l-eye"][0]))
        ez = float(0.5 * (j["joint-l-eye"][2] + j["joint-r-eye"][2])) + 0.006 * s
        half_w, _, _ = _head_band(verts, ez)
        bridge = np.array([[-ex + 0.018 * s, lens_y, ez], [ex - 0.018 * s, lens_y, ez]])
        v, f = tube(bridge, np.full(2, 0.0025 * s), 6)
        parts.append(AccessoryPart("bridge", v, f, "head"))
        for sgn in (-1, 1):
            temple = np.array([[sgn * (ex + 0.02 * s), lens_y, ez], [sgn * (half_w + 0.004 * s), lens_y + 0.03 * s, ez],
                               [sgn * (half_w + 0.004 * s), fr.center[1] + 0.02 * s, ez - 0.008 * s]])
            v, f = tube(temple, np.full(3, 0.002 * s), 5)
            parts.append(AccessoryPart(f"temple-{'l' if sgn > 0 else 'r'}", v, f, "head"))
        return parts

    # Headwear: a shell over the scalp (the body's own head faces, pushed out over the hair).
    # The band sits low on the forehead (a third of the way from the eyes to the crown), so
    # the crown hugs the skull instead of perching on top like a bowler.
    band_z = fr.eye_z + (0.3 if kind == "cap" else 0.32) * (fr.top_z - fr.eye_z)
    clearance = hair_clearance + 0.007 * s
    shell_faces = scalp_faces(verts, fr, front_height=0.26)
    ids = np.unique(shell_faces)
    keep = verts[ids, 2] >= band_z - 0.02 * s
    faces = gr.faces_from_vertex_mask(shell_faces, ids, keep, min_corners=4)
    shell = gr.submesh(verts, faces, clearance)
    half_w, front_y, back_y = _head_band(verts, band_z)
    center_xy = np.array([fr.center[0], 0.5 * (front_y + back_y)])
    rx, ry = half_w + clearance, 0.5 * (back_y - front_y) + clearance
    if kind == "cap":
        v, f = _brim(center_xy, rx * 0.97, ry * 0.97, band_z, 0.075 * s, 0.0, np.radians(75), 0.02 * s)
        return [AccessoryPart("crown", shell.vertices, shell.faces, "head"),
                AccessoryPart("brim", v, f, "head", 0.9)]
    # Hat: a taller crown (the shell raised) and a full brim.
    crown = shell.vertices.copy()
    lift = np.clip((crown[:, 2] - band_z) / max(fr.top_z - band_z, 1e-3), 0, 1)
    crown[:, 2] += 0.035 * s * lift
    v, f = _brim(center_xy, rx * 0.98, ry * 0.98, band_z, 0.06 * s, 0.05 * s, np.pi, 0.012 * s, 24)
    return [AccessoryPart("crown", crown, shell.faces, "head"), AccessoryPart("brim", v, f, "head")]


def accessory_side(color: str) -> int:
    """The character's side (+1 left, −1 right) a shoulder bag hangs on: fixed by its colour."""
    return 1 if zlib.crc32(color.encode()) % 2 else -1
