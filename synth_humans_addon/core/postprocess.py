"""Camera-model degradations of a rendered crop, and image encoding (numpy + PIL, no bpy).

A clean render looks unlike a surveillance camera: real crops are soft, noisy, JPEG-blocky,
often upscaled from fewer pixels and tinted by white balance. `apply_postprocess` adds those
effects from a `PostprocessSample`, in the order a camera pipeline produces them:

    exposure and contrast → colour cast (white balance) → optical blur → sensor resolution (down, then back up)
    → sensor noise → JPEG compression (in `encode_jpeg`)

The output keeps the crop's size, so the person mask stays pixel-aligned. Everything is
deterministic: the noise comes from a generator seeded with the sample's `seed`, and PIL's
filters and JPEG encoder are deterministic on one machine.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageFilter


def apply_color_cast(rgb: np.ndarray, gains: list[float] | tuple[float, ...]) -> np.ndarray:
    """Multiply each channel by its gain (a white-balance error). float32 [0, 1] in and out."""
    g = np.asarray(gains, np.float32).reshape(1, 1, 3)
    return np.clip(rgb * g, 0.0, 1.0)


def apply_exposure_contrast(rgb: np.ndarray, exposure: float, contrast: float) -> np.ndarray:
    """Scale brightness by `exposure`, then stretch around the image's mean luma by `contrast`
    (harsh sun and shade: > 1; flat, hazy light: < 1). float32 [0, 1] in and out."""
    if abs(exposure - 1.0) < 1e-6 and abs(contrast - 1.0) < 1e-6:
        return rgb
    out = rgb * np.float32(exposure)
    mean = float(out.mean())
    return np.clip((out - mean) * np.float32(contrast) + mean, 0.0, 1.0)


def apply_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation `sigma` pixels (no-op below 0.05 px)."""
    if sigma < 0.05:
        return rgb
    im = Image.fromarray(to_uint8(rgb)).filter(ImageFilter.GaussianBlur(radius=float(sigma)))
    return np.asarray(im, np.float32) / 255.0


def apply_rescale(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by `factor` and enlarge back to the original size: the look of a low-resolution sensor."""
    h, w = rgb.shape[:2]
    if factor <= 1.0 + 1e-6:
        return rgb
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    im = Image.fromarray(to_uint8(rgb)).resize(small, Image.Resampling.BOX).resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(im, np.float32) / 255.0


def apply_noise(rgb: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian sensor noise of standard deviation `std` (on the [0, 1] scale)."""
    if std <= 0.0:
        return rgb
    noise = rng.normal(0.0, std, size=rgb.shape).astype(np.float32)
    return np.clip(rgb + noise, 0.0, 1.0)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def apply_postprocess(image: np.ndarray, sample: Any) -> np.ndarray:
    """Degrade an RGB uint8 image (H, W, 3) by a PostprocessSample; returns uint8 of the same size.

    JPEG quality is not applied here; pass `sample.jpeg_quality` to `encode_jpeg`.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    rng = np.random.default_rng(int(sample.seed))
    rgb = image.astype(np.float32) / 255.0
    rgb = apply_exposure_contrast(rgb, float(getattr(sample, "exposure", 1.0)), float(getattr(sample, "contrast", 1.0)))
    rgb = apply_color_cast(rgb, sample.color_gain)
    rgb = apply_blur(rgb, float(sample.blur_sigma))
    rgb = apply_rescale(rgb, float(sample.downscale))
    rgb = apply_noise(rgb, float(sample.noise_std), rng)
    return to_uint8(rgb)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG bytes (4:2:0 like most cameras); `quality` is clamped to 1..100."""
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="JPEG", quality=int(min(100, max(1, quality))),
                                       optimize=False, subsampling=2)
    return buf.getvalue()


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of an 8-bit grey (H, W) or RGB (H, W, 3) image."""
    mode = "L" if image.ndim == 2 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(image, mode).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Inverse of the encoders: a uint8 array (H, W) or (H, W, 3)."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L" if im.mode in ("L", "1", "I") else "RGB"))
