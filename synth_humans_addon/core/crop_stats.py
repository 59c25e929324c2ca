"""What a person crop looks like, in numbers: colours by body region, light, blur, noise, JPEG.

Used by `headless fit` to describe a folder of real crops (and of generated ones) in the
terms the spec controls, and by `domain_distance` to compare two folders. numpy + PIL only.

Body regions are fixed bands of rows and columns of the crop, the way pedestrian
attribute work reads upper- and lower-body colour off detector boxes: the upper body
lies in rows 20–45 % of the height, the lower body in rows 55–85 %, both in the middle
40 % of the width; the background is read from the outer eighth of columns on each side.
"""
from __future__ import annotations

import functools
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .palettes import linear_to_srgb, srgb_to_linear

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
UPPER_ROWS, LOWER_ROWS, BODY_COLS = (0.20, 0.45), (0.55, 0.85), (0.30, 0.70)
BACKGROUND_COLS = 0.125
FEATURE_SIZE = (48, 128)  # (w, h) the colour/texture features are read at: resolution-free
REBLUR_SIGMA = 1.0  # px, the reference blur of the re-blur sharpness estimate


@dataclass(frozen=True)
class CropStats:
    width: int
    height: int
    upper_rgb: tuple[float, float, float]  # sRGB [0, 1], median over the upper-body band
    lower_rgb: tuple[float, float, float]
    background_rgb: tuple[float, float, float]
    background_texture: float  # mean gradient magnitude of the background bands (feature size)
    luma_mean: float  # sRGB luma, [0, 1]
    luma_std: float  # contrast
    channel_gain: tuple[float, float, float]  # channel means / grey mean (grey-world colour cast)
    noise_std: float  # [0, 1] scale, per channel, from the finest diagonal detail (native resolution)
    blur_sigma: float  # px, equivalent Gaussian blur (native resolution)
    jpeg_quality: int | None  # IJG quality of the file's luminance table; None for lossless files

    def to_dict(self) -> dict:
        return asdict(self)


def list_images(folder: Path, limit: int | None = None, seed: int = 0) -> list[Path]:
    """Image files in `folder` (not recursive), sorted; a seeded random subset of `limit`."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if limit is not None and len(files) > limit:
        pick = np.random.default_rng(seed).choice(len(files), size=limit, replace=False)
        files = [files[i] for i in sorted(pick)]
    return files


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _gaussian_1d(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array with reflected borders."""
    k = _gaussian_1d(sigma)
    r = len(k) // 2
    pad = np.pad(img, ((0, 0), (r, r)), mode="reflect")
    rows = sum(k[i] * pad[:, i:i + img.shape[1]] for i in range(len(k)))
    pad = np.pad(rows, ((r, r), (0, 0)), mode="reflect")
    return sum(k[i] * pad[i:i + img.shape[0]] for i in range(len(k)))


def _gradient_energy(img: np.ndarray) -> float:
    gx, gy = np.diff(img, axis=1), np.diff(img, axis=0)
    return float((gx ** 2).mean() + (gy ** 2).mean())


def estimate_blur(luma: np.ndarray) -> float:
    """Equivalent Gaussian blur σ (px) by re-blurring: for natural (1/f) content the gradient
    energy of an image blurred by σ falls as 1/σ², so blurring it once more by σ₀ keeps the
    fraction r = σ² / (σ² + σ₀²) of it, and σ = σ₀ √(r / (1 − r)). Strong sensor noise reads
    as sharpness; `fit.invert_degradation` accounts for that by simulation."""
    e0 = _gradient_energy(luma)
    if e0 <= 1e-12 or min(luma.shape) < 8:
        return 0.0
    r = _gradient_energy(gaussian_blur(luma, REBLUR_SIGMA)) / e0
    r = min(max(r, 1e-6), 0.999)
    return float(REBLUR_SIGMA * np.sqrt(r / (1 - r)))


def estimate_noise(luma: np.ndarray) -> float:
    """Gaussian noise σ from the finest diagonal (Haar HH) detail: median(|HH|) / 0.6745
    (Donoho's robust estimate; image content is smooth at that scale, noise is not)."""
    h, w = (luma.shape[0] // 2) * 2, (luma.shape[1] // 2) * 2
    if h < 4 or w < 4:
        return 0.0
    a = luma[:h:2, :w:2]
    b = luma[:h:2, 1:w:2]
    c = luma[1:h:2, :w:2]
    d = luma[1:h:2, 1:w:2]
    hh = (a - b - c + d) / 2.0
    return float(np.median(np.abs(hh)) / 0.6745)


@functools.lru_cache(maxsize=1)
def _jpeg_tables() -> np.ndarray:
    """(100, 64) luminance quantisation tables PIL writes for qualities 1..100."""
    tables = []
    tiny = Image.new("RGB", (8, 8))
    for q in range(1, 101):
        buf = io.BytesIO()
        tiny.save(buf, format="JPEG", quality=q)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            tables.append(np.array(list(im.quantization[0]), np.float64))
    return np.stack(tables)


def jpeg_quality(im: Image.Image) -> int | None:
    """The IJG quality whose luminance table is nearest the file's (None if not a JPEG)."""
    q = getattr(im, "quantization", None)
    if not q or 0 not in q:
        return None
    table = np.array(list(q[0]), np.float64)
    tables = _jpeg_tables()
    if table.shape != tables.shape[1:]:
        return None
    return int(np.argmin(np.abs(np.log(tables) - np.log(np.maximum(table, 1))).sum(axis=1))) + 1


def _band(a: np.ndarray, rows: tuple[float, float], cols: tuple[float, float]) -> np.ndarray:
    h, w = a.shape[:2]
    r0, r1 = int(rows[0] * h), max(int(rows[0] * h) + 1, int(rows[1] * h))
    c0, c1 = int(cols[0] * w), max(int(cols[0] * w) + 1, int(cols[1] * w))
    return a[r0:r1, c0:c1]


def crop_stats(image: Image.Image | np.ndarray) -> CropStats:
    """The statistics of one crop (a PIL image, or an (H, W, 3) uint8 array)."""
    quality = jpeg_quality(image) if isinstance(image, Image.Image) else None
    pil = image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    native = np.asarray(pil, np.float32) / 255.0
    luma_native = _luma(native)
    small = np.asarray(pil.resize(FEATURE_SIZE, Image.Resampling.BOX), np.float32) / 255.0
    luma = _luma(small)
    upper = np.median(_band(small, UPPER_ROWS, BODY_COLS).reshape(-1, 3), axis=0)
    lower = np.median(_band(small, LOWER_ROWS, BODY_COLS).reshape(-1, 3), axis=0)
    bw = max(1, int(round(BACKGROUND_COLS * small.shape[1])))
    bg = np.concatenate([small[:, :bw], small[:, -bw:]], axis=1)
    bg_luma = _luma(bg)
    texture = float(np.abs(np.diff(bg_luma, axis=0)).mean() + np.abs(np.diff(bg_luma, axis=1)).mean())
    means = small.reshape(-1, 3).mean(axis=0)
    grey = float(means.mean()) or 1e-6
    return CropStats(
        width=pil.width, height=pil.height,
        upper_rgb=tuple(float(v) for v in upper), lower_rgb=tuple(float(v) for v in lower),
        background_rgb=tuple(float(v) for v in np.median(bg.reshape(-1, 3), axis=0)),
        background_texture=texture, luma_mean=float(luma.mean()), luma_std=float(luma.std()),
        channel_gain=tuple(float(v / grey) for v in means),
        noise_std=float(np.mean([estimate_noise(native[..., c]) for c in range(3)])), blur_sigma=estimate_blur(luma_native), jpeg_quality=quality,
    )


def folder_stats(folder: Path, limit: int | None = None, seed: int = 0) -> list[CropStats]:
    """Statistics of (a seeded subset of `limit`) crops in a folder; unreadable files are skipped."""
    out = []
    for path in list_images(folder, limit, seed):
        try:
            with Image.open(path) as im:
                im.load()
                out.append(crop_stats(im))
        except (OSError, ValueError):
            continue
    return out


# ---------------------------------------------------------------------------------------
# Camera elevation

PROFILE_BANDS = 8  # horizontal bands of the background columns, top to bottom


def elevation_profile(image: Image.Image | np.ndarray) -> np.ndarray:
    """(2 × PROFILE_BANDS,) how the background changes from the crop's top to its bottom.

    Why this reads elevation: a camera that looks down sees ground behind the whole person
    (textured, darker), one at eye height sees walls and sky above the shoulders (smoother,
    often lighter), so the row at which the background turns from one to the other moves with
    elevation. Per band of the outer columns: mean luma relative to the background's mean,
    over its spread, and gradient energy over the background's mean gradient, so a site's
    brightness and contrast do not enter."""
    pil = image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    small = np.asarray(pil.resize(FEATURE_SIZE, Image.Resampling.BOX), np.float32) / 255.0
    bw = max(1, int(round(BACKGROUND_COLS * small.shape[1])))
    bg = _luma(np.concatenate([small[:, :bw], small[:, -bw:]], axis=1))
    bands = np.array_split(np.arange(bg.shape[0]), PROFILE_BANDS)
    level = np.array([bg[rows].mean() for rows in bands])
    energy = np.array([np.abs(np.diff(bg[rows], axis=0)).mean() + np.abs(np.diff(bg[rows], axis=1)).mean()
                       for rows in bands])
    return np.concatenate([(level - level.mean()) / (bg.std() + 1e-3), energy / (energy.mean() + 1e-4)])


def folder_elevation_profiles(folder: Path, limit: int | None = None, seed: int = 0) -> np.ndarray:
    """(N, 2 × PROFILE_BANDS) `elevation_profile` of (a seeded subset of) a folder's crops."""
    rows = []
    for path in list_images(folder, limit, seed):
        try:
            with Image.open(path) as im:
                rows.append(elevation_profile(im))
        except (OSError, ValueError):
            continue
    return np.array(rows, np.float64).reshape(-1, 2 * PROFILE_BANDS)


# ---------------------------------------------------------------------------------------
# Domain distance


def features(stats: list[CropStats]) -> np.ndarray:
    """(N, 19) colour/texture/camera features of crops, for the kernel two-sample statistic."""
    rows = []
    for s in stats:
        sat = lambda c: max(c) - min(c)  # noqa: E731 (chroma of a colour)
        rows.append([*s.upper_rgb, *s.lower_rgb, *s.background_rgb, s.background_texture, s.luma_mean, s.luma_std,
                     *s.channel_gain, sat(s.upper_rgb), sat(s.lower_rgb), np.log(s.noise_std + 1e-3),
                     np.log(s.blur_sigma + 0.1), s.height / max(s.width, 1)])
    return np.array(rows, np.float64)


def mmd2(x: np.ndarray, y: np.ndarray, scale: np.ndarray | None = None, bandwidth: float | None = None) -> float:
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012) with a Gaussian kernel.

    Features are divided by `scale` (default: the pooled standard deviation of each column);
    the bandwidth defaults to the median pairwise distance of the pooled sample. 0 means the
    two samples are indistinguishable by these features; larger is farther apart."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the kernel two-sample statistic needs at least 2 crops on each side")
    pooled = np.concatenate([x, y])
    scale = pooled.std(axis=0) if scale is None else np.asarray(scale, np.float64)
    scale = np.where(scale > 1e-9, scale, 1.0)
    x, y, pooled = x / scale, y / scale, pooled / scale
    d2 = ((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1)
    if bandwidth is None:
        bandwidth = float(np.sqrt(np.median(d2[np.triu_indices(len(pooled), 1)])))
    k = np.exp(-d2 / (2 * bandwidth ** 2))
    n = len(x)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    m = len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def to_linear(rgb) -> np.ndarray:
    return np.array([srgb_to_linear(float(v)) for v in rgb])


def to_srgb(lin) -> np.ndarray:
    return np.array([linear_to_srgb(float(min(max(v, 0.0), 1.0))) for v in lin])
