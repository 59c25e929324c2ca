"""`preview --compare`: generated crops above real ones at the same height (no rendering)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from headless.contact_sheet import make_compare_sheet
from headless.preview import _compare_sheet


def _crops(folder, n, size, colour):
    folder.mkdir()
    paths = []
    for i in range(n):
        p = folder / f"{i:03d}.jpg"
        Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(p)
        paths.append(p)
    return paths


def test_compare_sheet_puts_generated_above_real_at_one_height(tmp_path):
    generated = _crops(tmp_path / "gen", 6, (50, 128), (200, 30, 30))
    _crops(tmp_path / "real", 9, (90, 300), (30, 30, 200))  # other size and count
    out = tmp_path / "compare.png"
    _compare_sheet(generated, tmp_path / "real", columns=3, out=out)
    sheet = np.asarray(Image.open(out).convert("RGB")).astype(int)
    red = (sheet[..., 0] > 150) & (sheet[..., 2] < 80)
    blue = (sheet[..., 2] > 150) & (sheet[..., 0] < 80)
    red_rows, blue_rows = np.where(red.any(axis=1))[0], np.where(blue.any(axis=1))[0]
    assert red_rows.max() < blue_rows.min()  # generated block first
    # As many real crops as generated ones, each as tall as the generated crops.
    assert red.sum() > 0 and blue.sum() > 0
    assert len(red_rows) == len(blue_rows) == 2 * 128


def test_make_compare_sheet_needs_both_sides():
    im = Image.new("RGB", (10, 30))
    try:
        make_compare_sheet([im], [])
    except ValueError as exc:
        assert "generated and real" in str(exc)
    else:
        raise AssertionError("an empty side must be refused")
