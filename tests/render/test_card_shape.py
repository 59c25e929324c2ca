"""An impostor card's cut-out mesh (shapes.card): only the cells that hold something, no gaps, no wall."""
from __future__ import annotations

import numpy as np

from synth_humans_addon.shapes.card import card_mesh, cutout_cells


def _figure(h: int = 40, w: int = 16) -> np.ndarray:
    """A person-like alpha: a head disc on a body column, transparent around."""
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = ((xx - w / 2) ** 2 + (yy - 5) ** 2 < 16).astype(float)
    alpha[10:, 4:12] = 1.0
    return alpha


def test_cells_keep_what_holds_alpha_and_drop_the_empty_corners():
    alpha = _figure()
    kept = cutout_cells(alpha, cell=4)
    assert kept.shape == (10, 4)
    assert kept[5, 1] and kept[5, 2]  # the body
    assert not kept[0, 0] and not kept[0, 3]  # beside the head: nothing there
    # every pixel with alpha lies in a kept cell (the texture's outline is never cut)
    rows, cols = np.nonzero(alpha >= 0.1)
    assert kept[rows // 4, cols // 4].all()
    # a faint pixel alone keeps its cell at the default threshold, not below it
    faint = np.zeros((8, 8))
    faint[1, 1] = 0.05
    assert not cutout_cells(faint, 4).any() and cutout_cells(faint, 4, threshold=0.01)[0, 0]


def test_partial_edge_cells_count_and_uvs_stay_in_the_image():
    alpha = np.zeros((10, 6))
    alpha[9, 5] = 1.0  # in the last, partial cell of both axes
    cm = card_mesh(alpha, cell=4)
    assert cm.quads.shape == (1, 4)
    assert cm.uv.min() >= 0.0 and cm.uv.max() <= 1.0
    u, v = cm.uv[:, 0], cm.uv[:, 1]
    assert u.max() == 1.0 and v.min() == 0.0  # the bottom-right corner of the image


def test_quads_share_corners_and_face_the_viewer():
    cm = card_mesh(_figure(), cell=4)
    kept = cutout_cells(_figure(), 4)
    assert len(cm.quads) == int(kept.sum())
    # shared corners: no two vertices at the same place
    assert len(np.unique(np.round(cm.uv, 9), axis=0)) == len(cm.uv)
    # counter-clockwise in (u right, v up): the front faces the camera that rendered the card
    p = cm.uv[cm.quads]
    area = 0.5 * np.sum(p[:, :, 0] * np.roll(p[:, :, 1], -1, axis=1) - np.roll(p[:, :, 0], -1, axis=1) * p[:, :, 1],
                        axis=1)
    assert (area > 0).all()
    # the quads cover exactly the kept cells' area
    assert np.isclose(area.sum(), kept.sum() * (4 / 16) * (4 / 40))
