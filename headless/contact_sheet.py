"""Contact sheets: many crops of different sizes on one labelled page (PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw


def make_contact_sheet(images: Sequence[Image.Image], labels: Sequence[str] | None = None, columns: int = 10,
                       cell_height: int = 192, background: tuple[int, int, int] = (24, 24, 24)) -> Image.Image:
    """Lay out crops in a grid; each is scaled to `cell_height` keeping its aspect ratio."""
    if not images:
        raise ValueError("no images for the contact sheet")
    label_h = 14 if labels else 0
    scaled = [im.convert("RGB").resize((max(1, round(im.width * cell_height / im.height)), cell_height),
                                       Image.Resampling.LANCZOS) for im in images]
    cell_w = max(im.width for im in scaled)
    rows = (len(scaled) + columns - 1) // columns
    cols = min(columns, len(scaled))
    pad = 4
    sheet = Image.new("RGB", (cols * (cell_w + pad) + pad, rows * (cell_height + label_h + pad) + pad), background)
    draw = ImageDraw.Draw(sheet)
    for i, im in enumerate(scaled):
        r, c = divmod(i, columns)
        x = pad + c * (cell_w + pad) + (cell_w - im.width) // 2
        y = pad + r * (cell_height + label_h + pad)
        sheet.paste(im, (x, y))
        if labels:
            draw.text((pad + c * (cell_w + pad) + 2, y + cell_height + 1), str(labels[i])[:24], fill=(220, 220, 220))
    return sheet


def make_compare_sheet(generated: Sequence[Image.Image], real: Sequence[Image.Image], columns: int = 10,
                       cell_height: int = 192) -> Image.Image:
    """Generated crops above real ones, every crop scaled to the same height, each block
    titled ("generated" / "real"), so the two looks can be compared by eye."""
    if not generated or not real:
        raise ValueError("a comparison needs generated and real crops")
    blocks = [make_contact_sheet(generated, None, columns, cell_height), make_contact_sheet(real, None, columns, cell_height)]
    title_h = 16
    width = max(b.width for b in blocks)
    sheet = Image.new("RGB", (width, sum(b.height + title_h for b in blocks)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    y = 0
    for title, block in zip((f"generated ({len(generated)})", f"real ({len(real)})"), blocks):
        draw.text((6, y + 2), title, fill=(230, 230, 230))
        sheet.paste(block, (0, y + title_h))
        y += block.height + title_h
    return sheet


def save_contact_sheet(paths: Sequence[Path], out: Path, labels: Sequence[str] | None = None, columns: int = 10) -> Path:
    images = [Image.open(p) for p in paths]
    make_contact_sheet(images, labels, columns).save(out)
    return out
