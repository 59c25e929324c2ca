"""An impostor card's mesh: the cells of a cut-out image that hold something, as quads.

Another person in the target's images is rendered once into an RGBA image and shown as a
card (`blender/other_people.py`). A full rectangle would be a wall to every ray cast from the
camera (keypoint visibility asks the scene what lies in front of a joint, and a ray cast
does not see alpha), so the card keeps only the grid cells whose alpha reaches `threshold`
somewhere. The texture's alpha still draws the exact outline; the cells only decide where
a ray can stop, so a joint near the outline may be called hidden by up to one cell.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CardMesh:
    """Vertices as (u, v) in [0, 1] (u to the image's right, v up) and quads of vertex indices."""

    uv: np.ndarray  # (N, 2) float
    quads: np.ndarray  # (M, 4) int, counter-clockwise seen from the front


def cutout_cells(alpha: np.ndarray, cell: int, threshold: float = 0.1) -> np.ndarray:
    """(rows, cols) bool: which `cell`-pixel squares of `alpha` (H, W, values 0…1, row 0 at
    the top) hold a pixel of at least `threshold`. Partial squares at the edges count."""
    h, w = alpha.shape
    rows, cols = -(-h // cell), -(-w // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=float)
    padded[:h, :w] = alpha
    return padded.reshape(rows, cell, cols, cell).max(axis=(1, 3)) >= threshold


def card_mesh(alpha: np.ndarray, cell: int = 4, threshold: float = 0.1) -> CardMesh:
    """The quads of the cells that hold something, sharing corners (no duplicate vertices)."""
    h, w = alpha.shape
    kept = cutout_cells(alpha, cell, threshold)
    rows, cols = kept.shape
    # grid corner (r, c) with r counted from the top; a cell (r, c) has corners r..r+1, c..c+1
    used = np.zeros((rows + 1, cols + 1), dtype=bool)
    r_idx, c_idx = np.nonzero(kept)
    for dr in (0, 1):
        for dc in (0, 1):
            used[r_idx + dr, c_idx + dc] = True
    index = np.full(used.shape, -1, dtype=int)
    index[used] = np.arange(int(used.sum()))
    gr, gc = np.nonzero(used)
    u = np.minimum(gc * cell, w) / w
    v = 1.0 - np.minimum(gr * cell, h) / h
    quads = np.stack([index[r_idx + 1, c_idx], index[r_idx + 1, c_idx + 1],
                      index[r_idx, c_idx + 1], index[r_idx, c_idx]], axis=1)
    return CardMesh(uv=np.stack([u, v], axis=1), quads=quads.reshape(-1, 4))
