"""Images and masks as the networks see them: loaded as RGB, fitted into the training frame
without distortion, cropped and flipped together (`PairTransform`), and as tensors in [-1, 1].

The released PTGAN code cropped and flipped an image and its mask independently; here they
always move together. Used by the refiner's data, its segmenter, `apply` and the sample grids.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def load_image(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def fit_box(w0: int, h0: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a w0 × h0 image fitted into height × width by `fit_into`:
    what to cut out of its output to get the image back (e.g. a mask predicted on the frame)."""
    scale = min(height / h0, width / w0)
    w1, h1 = max(1, min(width, round(w0 * scale))), max(1, min(height, round(h0 * scale)))
    return (width - w1) // 2, (height - h1) // 2, w1, h1


def fit_into(image: Image.Image, height: int, width: int, resample: int, pad_mode: str = "edge",
             fill: int = 0) -> Image.Image:
    """Scale to fit inside height × width keeping the aspect ratio, then pad the rest.

    The reference CycleGAN resizes to a square, which stretches a person; here the person
    keeps their proportions and the letterbox is filled (`edge` repeats the border pixels,
    `reflect` mirrors, `constant` uses `fill`).
    """
    left, top, w1, h1 = fit_box(*image.size, height, width)
    if (w1, h1) != image.size:
        image = image.resize((w1, h1), resample)
    if (w1, h1) == (width, height):
        return image
    arr = np.asarray(image)
    pads = ((top, height - h1 - top), (left, width - w1 - left)) + (((0, 0),) if arr.ndim == 3 else ())
    if pad_mode == "constant":
        arr = np.pad(arr, pads, mode="constant", constant_values=fill)
    else:
        arr = np.pad(arr, pads, mode="edge" if pad_mode == "edge" else "reflect")
    return Image.fromarray(arr, image.mode)


@dataclass(frozen=True)
class CropFlip:
    """Where to crop (top, left) and whether to mirror: drawn once, applied to image and mask."""

    top: int
    left: int
    flip: bool


class PairTransform:
    """Fit into the load frame, random-crop to the training frame, maybe flip; image and mask alike."""

    def __init__(self, height: int, width: int, load_height: int, load_width: int, flip: bool, pad_mode: str):
        self.height, self.width = height, width
        self.load_height, self.load_width = load_height, load_width
        self.flip, self.pad_mode = flip, pad_mode

    def draw(self, rng: np.random.Generator) -> CropFlip:
        return CropFlip(int(rng.integers(self.load_height - self.height + 1)),
                        int(rng.integers(self.load_width - self.width + 1)),
                        bool(self.flip and rng.random() < 0.5))

    def center(self) -> CropFlip:
        return CropFlip((self.load_height - self.height) // 2, (self.load_width - self.width) // 2, False)

    def apply(self, image: Image.Image, params: CropFlip, is_mask: bool = False) -> Image.Image:
        resample = Image.BILINEAR if is_mask else Image.BICUBIC
        pad = "constant" if is_mask else self.pad_mode  # nothing outside the photo is person
        out = fit_into(image, self.load_height, self.load_width, resample, pad, 0)
        out = out.crop((params.left, params.top, params.left + self.width, params.top + self.height))
        if params.flip:
            out = out.transpose(Image.FLIP_LEFT_RIGHT)
        return out

    def __call__(self, image: Image.Image, mask: Image.Image | None, params: CropFlip):
        return self.apply(image, params), (self.apply(mask, params, True) if mask is not None else None)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL → 3 × H × W float in [-1, 1]."""
    arr = np.asarray(image, dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).div_(127.5).sub_(1.0)


def mask_to_tensor(mask: Image.Image | None, height: int, width: int) -> torch.Tensor:
    """L PIL → 1 × H × W float in [0, 1]; no mask gives zeros (no foreground is known)."""
    if mask is None:
        return torch.zeros(1, height, width)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None]


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """3 × H × W in [-1, 1] → RGB PIL (rounded, clamped)."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), "RGB")
