"""The cuboid room's six faces around the character (plain Python, no bpy).

`blender/room.py` builds one face object per quad; their order (+X, −X, +Y, −Y, floor,
ceiling) is the order of `BackgroundSample.colors` and of the cubemap walls.
"""
from __future__ import annotations


def box_faces(half: float, z0: float, z1: float) -> list[list[tuple[float, float, float]]]:
    """Quads of the six faces, seen from inside: +X, −X, +Y, −Y, floor, ceiling."""
    h = half
    return [
        [(h, -h, z0), (h, h, z0), (h, h, z1), (h, -h, z1)],  # +X: left→right = −Y→+Y seen from inside
        [(-h, h, z0), (-h, -h, z0), (-h, -h, z1), (-h, h, z1)],  # −X
        [(h, h, z0), (-h, h, z0), (-h, h, z1), (h, h, z1)],  # +Y
        [(-h, -h, z0), (h, -h, z0), (h, -h, z1), (-h, -h, z1)],  # −Y
        [(-h, h, z0), (h, h, z0), (h, -h, z0), (-h, -h, z0)],  # floor (image top = +Y)
        [(-h, -h, z1), (h, -h, z1), (h, h, z1), (-h, h, z1)],  # ceiling (image top = +Y, seen from below)
    ]
