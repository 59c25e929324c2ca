"""Two small procedural image domains for tests, smoke runs and end-to-end experiments.

* `make_generated_dataset`: a generated dataset (our format, via the core writer) whose
  people are flat-shaded figures drawn from real CharacterSamples (skin, top, bottom, hair
  and background colours of the sample), bright and crisp, with exact masks.
* `make_real_domain`: a stand-in "real camera" domain with a distinctly different look
  (darker, blue-tinted, blurred, noisy, dull backgrounds), as a plain folder or a
  Market-1501 layout, optionally with a folder of masks.

Nothing here needs Blender or torch.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from synth_humans_addon.core.dataset import (MASKS_DIR, SUBSET_TRAIN, RenderedImage, create_dataset, file_stem,
                                             write_character)
from synth_humans_addon.core.sampling import expand_dataset
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_to_dict


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


@dataclass
class Figure:
    """Colours and proportions of one drawn person."""

    skin: tuple[int, int, int]
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    hair: tuple[int, int, int] | None
    background: tuple[tuple[int, int, int], tuple[int, int, int]]  # wall, floor
    aspect: float  # width / height of the crop
    stride: float  # 0 … 1, how far apart the legs are


def draw_person(fig: Figure, height: int) -> tuple[Image.Image, Image.Image]:
    """An RGB crop and its exact 8-bit mask (255 = person)."""
    width = max(8, int(round(height * fig.aspect)))
    img = Image.new("RGB", (width, height), fig.background[0])
    ImageDraw.Draw(img).rectangle([0, int(height * 0.8), width, height], fill=fig.background[1])
    mask = Image.new("L", (width, height), 0)
    cx, u = width / 2, height / 100.0  # u: 1 % of the height
    shapes = [  # (kind, box in (x0, y0, x1, y1), colour)
        ("ellipse", (cx - 7 * u, 3 * u, cx + 7 * u, 19 * u), fig.skin),  # head
        ("rectangle", (cx - 13 * u, 19 * u, cx + 13 * u, 52 * u), fig.top),  # torso
        ("rectangle", (cx - 18 * u, 21 * u, cx - 13 * u, 50 * u), fig.top),  # arms
        ("rectangle", (cx + 13 * u, 21 * u, cx + 18 * u, 50 * u), fig.top),
        ("ellipse", (cx - 18 * u, 48 * u, cx - 13 * u, 54 * u), fig.skin),  # hands
        ("ellipse", (cx + 13 * u, 48 * u, cx + 18 * u, 54 * u), fig.skin),
    ]
    spread = 3 * u + 6 * u * fig.stride
    shapes += [("polygon", [(cx - 11 * u, 52 * u), (cx - 1 * u, 52 * u), (cx - spread + 4 * u, 95 * u),
                            (cx - spread - 4 * u, 95 * u)], fig.bottom),
               ("polygon", [(cx + 1 * u, 52 * u), (cx + 11 * u, 52 * u), (cx + spread + 4 * u, 95 * u),
                            (cx + spread - 4 * u, 95 * u)], fig.bottom)]
    if fig.hair is not None:
        shapes.append(("chord", (cx - 7.5 * u, 2 * u, cx + 7.5 * u, 14 * u), fig.hair))
    for draw, fill in ((ImageDraw.Draw(img), None), (ImageDraw.Draw(mask), 255)):
        for kind, box, colour in shapes:
            c = colour if fill is None else fill
            if kind == "ellipse":
                draw.ellipse(box, fill=c)
            elif kind == "rectangle":
                draw.rectangle(box, fill=c)
            elif kind == "polygon":
                draw.polygon(box, fill=c)
            else:
                draw.chord(box, 180, 360, fill=c)
    return img, mask


def real_camera_look(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The stand-in real camera: darker, blue cast, blurred, noisy."""
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(radius=max(0.6, img.height / 80))), dtype=np.float32)
    arr = arr * np.array([0.55, 0.62, 0.85], dtype=np.float32) + np.array([5, 10, 30], dtype=np.float32)
    arr += rng.normal(0.0, 6.0, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def small_spec(characters: int = 6, images_per_character: int = 4, seed: int = 0, crop_height: int = 64) -> Spec:
    spec = Spec()
    spec.dataset.name = "synthetic-refiner-fixture"
    spec.dataset.seed = seed
    spec.dataset.characters = characters
    spec.dataset.images_per_character = images_per_character
    spec.dataset.test_characters = min(2, characters // 3)
    spec.dataset.validation_characters = min(1, characters // 4)
    spec.render.crop_height = crop_height
    return spec


def make_generated_dataset(root: str | Path, characters: int = 6, images_per_character: int = 4, height: int = 64,
                           seed: int = 0) -> Path:
    """A generated dataset of drawn figures (bright, crisp) with exact masks; returns its root."""
    root = Path(root)
    spec = small_spec(characters, images_per_character, seed, height)
    create_dataset(root, spec.dataset.name, spec_to_dict(spec))
    for ch in expand_dataset(spec):
        rendered = []
        for im in ch.images:
            rng = np.random.default_rng(im.seed)
            fig = Figure(
                skin=_rgb(ch.body.skin_color),
                top=_rgb(ch.top.color) if ch.top else _rgb(ch.body.skin_color),
                bottom=_rgb(ch.bottom.color) if ch.bottom else _rgb(ch.body.skin_color),
                hair=_rgb(ch.hair.color) if ch.hair else None,
                background=(_rgb(ch.background.colors[0]), _rgb(ch.background.colors[4]))
                if ch.background.colors else ((200, 200, 200), (150, 150, 150)),
                aspect=0.36 + 0.1 * ch.body.weight + 0.04 * float(rng.random()),
                stride=im.pose_phase,
            )
            img, mask = draw_person(fig, height)
            info = {"bbox": [0, 0, img.width, img.height], "frame_size": [img.width, img.height],
                    "synthetic_fixture": True}
            rendered.append(RenderedImage(im.k, _encode(img, "JPEG", quality=95), _encode(mask, "PNG"), info))
        write_character(root, ch, rendered)
    return root


def make_real_domain(root: str | Path, count: int = 24, height: int = 64, seed: int = 1, layout: str = "folder",
                     with_masks: bool = False) -> Path:
    """A stand-in real-camera domain of `count` images; returns the folder to train on.

    `layout` folder: flat files in `<root>/images` (returned); market1501: Market-1501 names in
    `<root>/bounding_box_train` (`<root>` returned). `with_masks` writes `<root>/masks/<stem>.png`,
    outside the image folders, for use as `--target-masks folder:<root>/masks`."""
    if layout not in ("folder", "market1501"):
        raise ValueError(f"layout {layout!r}: must be folder or market1501")
    root = Path(root)
    rng = np.random.default_rng(seed)
    image_dir = root / (SUBSET_TRAIN if layout == "market1501" else "images")
    image_dir.mkdir(parents=True, exist_ok=True)
    if with_masks:
        (root / MASKS_DIR).mkdir(exist_ok=True)
    dull = [(90, 85, 80), (120, 115, 110), (70, 75, 80), (105, 100, 90)]
    for i in range(count):
        colours = rng.integers(0, 256, size=(4, 3))
        fig = Figure(skin=tuple(int(c) for c in (rng.integers(120, 230), rng.integers(90, 190), rng.integers(70, 160))),
                     top=tuple(int(c) for c in colours[0]), bottom=tuple(int(c) for c in colours[1] // 2),
                     hair=tuple(int(c) for c in colours[2] // 4) if rng.random() < 0.8 else None,
                     background=(dull[int(rng.integers(4))], dull[int(rng.integers(4))]),
                     aspect=float(rng.uniform(0.4, 0.55)), stride=float(rng.random()))
        img, mask = draw_person(fig, height)
        img = real_camera_look(img, rng)
        pid, cam = i // 4 + 1, int(rng.integers(1, 7))
        stem = file_stem(pid, cam, int(rng.integers(1_000_000)), i % 4) if layout == "market1501" else f"real_{i:04d}"
        img.save(image_dir / f"{stem}.jpg", quality=90)
        if with_masks:
            mask.save(root / MASKS_DIR / f"{stem}.png")
    return root if layout == "market1501" else image_dir


def colour_stats(images) -> np.ndarray:
    """Mean R, G, B (0…255) over PIL images or H × W × 3 arrays: the tests' style measure."""
    arrs = [np.asarray(im, dtype=np.float64).reshape(-1, 3) for im in images]
    return np.concatenate(arrs).mean(0)
