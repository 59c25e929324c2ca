"""A refiner without a GAN: the target camera's colour statistics and degradations.

Statistics are measured once (`measure`) on a seeded subset of each side; then every
generated image goes through two steps (`match_image`):

1. **Colour**, per channel in CIELAB (lightness apart from the two colour axes) or RGB: the
   affine map x → (x − μ_source) · σ_target / σ_source + μ_target, for the whole crop or, with
   masks on both sides, for the person and the background apart (blended by the soft mask).
   Scope `dataset` (default): one map per region for every image, from the pooled pixel
   statistics of the two sets, so the set moves onto the target's colours while the
   differences between people stay (a red coat stays redder than a grey one). Scope `image`:
   each image's own statistics onto the target's typical (median per-image) ones; that also
   removes what tells images apart, which is the point for a background that follows the
   character (`background_scope image`).
2. **Camera**: the target's JPEG quality, blur and noise as `headless fit` measures them
   (`crop_stats.crop_stats`, `fit.measured_camera`, `fit.fit_camera`), less what the
   generated images already carry, added by the generator's own post-processing
   (`postprocess.apply_postprocess`, `encode_jpeg`), drawn per image from the fitted ranges.

The copy is written like `refiner apply`'s (`apply.plan_copy`, `write_copy`). numpy + PIL.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from synth_humans_addon.core.crop_stats import crop_stats
from synth_humans_addon.core.dataset import SUBSET_TRAIN
from synth_humans_addon.core.fit import fit_camera, measured_camera
from synth_humans_addon.core.postprocess import apply_postprocess, decode_image, encode_jpeg
from synth_humans_addon.core.sampling import PostprocessSample, draw_range
from synth_humans_addon.core.spec import Range
from synth_humans_addon.core.typed_options import check_bounds

from .options import OptionsError

REGIONS = ("auto", "whole", "masks")
SCOPES = ("dataset", "image")
COLOUR_SPACES = ("lab", "rgb")
# MatchOptions' fields that take one of a few names (also the command line's `choices`), and least values.
MATCH_CHOICES = {"regions": REGIONS, "scope": SCOPES, "background_scope": SCOPES, "colour_space": COLOUR_SPACES}
MATCH_MINIMUM = {"samples": 2, "max_gain": 1}
NO_JPEG_QUALITY = 95  # written when the target crops are not JPEG (nothing to match)


@dataclass
class MatchOptions:
    """How the non-GAN refiner matches a generated dataset to a target camera."""

    regions: str = "auto"  # whole crop, or person and background apart (masks: needs masks of both sides; auto: masks when both have them)
    scope: str = "dataset"  # dataset: one colour map for all images (keeps differences between people); image: each image's own statistics onto the target's typical ones
    background_scope: str = "dataset"  # the background's scope with --regions masks (image: removes a background that follows the character)
    colour_space: str = "lab"  # lab (CIELAB, perceptual) or rgb
    camera: bool = True  # add the target's blur, noise and JPEG as `headless fit` measures them
    samples: int = 1000  # most images of each side measured (a seeded subset)
    max_gain: float = 4.0  # bound of σ_target / σ_source per channel (a flat region must not blow up)
    seed: int = 0  # the measured subsets and the per-image degradation draws
    target_subsets: list[str] = field(default_factory=lambda: [SUBSET_TRAIN])  # subsets of a Market-1501 / generated target ('all' for every one)

    def validate(self) -> "MatchOptions":
        check_bounds(self, "match", OptionsError, MATCH_CHOICES, MATCH_MINIMUM)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------
# Colour spaces (D65 sRGB ↔ CIELAB, float)

_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_SRGB = np.linalg.inv(_SRGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS = (6 / 29) ** 3
_LINEAR_LUT = np.array([v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
                        for v in np.arange(256) / 255.0])  # uint8 sRGB → linear


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (…, 3) → float CIELAB (L 0…100, a, b about −128…127), D65."""
    xyz = _LINEAR_LUT[rgb] @ _SRGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float CIELAB (…, 3) → uint8 sRGB, out-of-gamut colours clipped."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    lin = np.clip(xyz @ _XYZ_TO_SRGB.T, 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255), 0, 255).astype(np.uint8)


def to_space(rgb: np.ndarray, space: str) -> np.ndarray:
    return rgb_to_lab(rgb) if space == "lab" else rgb.astype(np.float64)


def from_space(values: np.ndarray, space: str) -> np.ndarray:
    return lab_to_rgb(values) if space == "lab" else np.clip(np.rint(values), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# Statistics


@dataclass
class RegionStats:
    """One side's colour statistics of one region (whole, person or background), per channel."""

    pooled_mean: list[float]  # over all pixels of the measured images
    pooled_std: list[float]
    image_mean: list[float]  # median over the images of each image's own mean
    image_std: list[float]  # median over the images of each image's own std


@dataclass
class MatchStats:
    """What `measure` read off both sides; recorded in the refined dataset's provenance."""

    colour_space: str
    source: dict[str, RegionStats]  # region → statistics
    target: dict[str, RegionStats]
    blur_sigma: list[float] | None  # σ range added (px); None: camera step off
    noise_std: list[float] | None
    jpeg_quality: list[float] | None  # None: the target is not JPEG (NO_JPEG_QUALITY is written)
    measured: dict[str, Any] = field(default_factory=dict)  # images measured, their median blur / noise

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _weighted(values: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-channel (Σw·x, Σw·x², Σw) of an H × W × 3 image under weights H × W."""
    flat, wf = values.reshape(-1, 3), w.reshape(-1)
    return wf @ flat, wf @ (flat * flat), float(wf.sum())


def _region_weights(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Soft weights of the person and the background from a 0…255 mask."""
    m = mask.astype(np.float64) / 255.0
    return {"person": m, "background": 1.0 - m}


class _Accumulator:
    """Pooled and per-image statistics of one region over a set of images."""

    MIN_PIXELS = 16  # an image whose region is smaller does not count for the per-image median

    def __init__(self):
        self.s1, self.s2, self.n = np.zeros(3), np.zeros(3), 0.0
        self.means: list[np.ndarray] = []
        self.stds: list[np.ndarray] = []

    def add(self, values: np.ndarray, w: np.ndarray) -> None:
        s1, s2, n = _weighted(values, w)
        self.s1, self.s2, self.n = self.s1 + s1, self.s2 + s2, self.n + n
        if n >= self.MIN_PIXELS:
            mean = s1 / n
            self.means.append(mean)
            self.stds.append(np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0)))

    def result(self, what: str) -> RegionStats:
        if self.n <= 0 or not self.means:
            raise ValueError(f"{what}: no pixels to measure")
        mean = self.s1 / self.n
        std = np.sqrt(np.maximum(self.s2 / self.n - mean ** 2, 0.0))
        return RegionStats([float(v) for v in mean], [float(v) for v in std],
                           [float(v) for v in np.median(self.means, 0)], [float(v) for v in np.median(self.stds, 0)])


def _subset(items: list, count: int, seed: int, salt: int) -> list:
    if len(items) <= count:
        return items
    pick = np.random.default_rng([seed, salt]).choice(len(items), size=count, replace=False)
    return [items[i] for i in sorted(pick)]


def _side(items, masks, regions: tuple[str, ...], opts: MatchOptions, what: str):
    """Colour statistics (the whole crop, and each region) and crop statistics of `items`."""
    acc = {r: _Accumulator() for r in dict.fromkeys(("whole",) + regions)}
    cams = []
    for item in items:
        with Image.open(item.image) as im:
            im.load()
            cams.append(crop_stats(im))  # reads the file's JPEG tables too
            image = im.convert("RGB")
        values = to_space(np.asarray(image), opts.colour_space)
        acc["whole"].add(values, np.ones(values.shape[:2]))
        if regions != ("whole",):
            mask = masks(item, image)
            if mask is None:
                raise ValueError(f"{what}: no mask for {item.image} (pass its masks, or --regions whole)")
            for region, w in _region_weights(np.asarray(mask)).items():
                acc[region].add(values, w)
    return {r: a.result(f"{what} {r}") for r, a in acc.items()}, cams


def measure(source: str | Path, target: str | Path, opts: MatchOptions, source_masks: str | None = None,
            target_masks: str | None = None, strict: bool = False) -> MatchStats:
    """Colour statistics of both sides and the camera degradations to add (module doc)."""
    from .data import NoMasks, load_domain, parse_mask_source

    opts.validate()
    domain_a = load_domain(source, ["all"], strict)
    domain_b = load_domain(target, opts.target_subsets, strict)
    masks_a = parse_mask_source(source_masks, domain_a.layout)
    masks_b = parse_mask_source(target_masks, domain_b.layout)
    have_masks = not isinstance(masks_a, NoMasks) and not isinstance(masks_b, NoMasks)
    if opts.regions == "masks" and not have_masks:
        side = "source" if isinstance(masks_a, NoMasks) else "target"
        why = f"needs masks of the {side}: pass --{side}-masks (ours:PATH or folder:PATH), or --regions whole"
        raise OptionsError.of_field("match", "regions", opts.regions, why)
    regions = ("person", "background") if opts.regions == "masks" or (opts.regions == "auto" and have_masks) \
        else ("whole",)
    src, cam_a = _side(_subset(domain_a.items, opts.samples, opts.seed, 1), masks_a, regions, opts, "source")
    tgt, cam_b = _side(_subset(domain_b.items, opts.samples, opts.seed, 2), masks_b, regions, opts, "target")
    blur = noise = jpeg = None
    measured = {"source_images": len(cam_a), "target_images": len(cam_b),
                "source_blur_px": float(np.median([c.blur_sigma for c in cam_a])),
                "target_blur_px": float(np.median([c.blur_sigma for c in cam_b])),
                "source_noise": float(np.median([c.noise_std for c in cam_a])),
                "target_noise": float(np.median([c.noise_std for c in cam_b]))}
    if opts.camera:
        # What the generated images already carry counts as the render's blur and noise.
        have_blur, have_noise = measured_camera(cam_a)
        fitted = fit_camera(cam_b, have_blur, Range(NO_JPEG_QUALITY, NO_JPEG_QUALITY))
        blur = [fitted["blur_sigma"].low, fitted["blur_sigma"].high]
        less = lambda total: float(np.sqrt(max(total ** 2 - have_noise ** 2, 0.0)))  # noises add in quadrature  # noqa: E731
        noise = [less(fitted["noise_std"].low), less(fitted["noise_std"].high)]
        q = fitted["jpeg_quality"]
        jpeg = None if q is None else [q.low, q.high]
        measured.update(source_camera_blur=have_blur, source_camera_noise=have_noise)
    return MatchStats(opts.colour_space, src, tgt, blur, noise, jpeg, measured)


# ---------------------------------------------------------------------------------------
# The per-image map


def _colour_map(values: np.ndarray, w: np.ndarray, source: RegionStats, target: RegionStats, scope: str,
                max_gain: float) -> np.ndarray:
    if scope == "image":
        s1, s2, n = _weighted(values, w)
        if n >= _Accumulator.MIN_PIXELS:
            mean = s1 / n
            src_mean, src_std = mean, np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
        else:  # too few pixels of this region to trust its own statistics
            src_mean, src_std = np.array(source.pooled_mean), np.array(source.pooled_std)
        tgt_mean, tgt_std = np.array(target.image_mean), np.array(target.image_std)
    else:
        src_mean, src_std = np.array(source.pooled_mean), np.array(source.pooled_std)
        tgt_mean, tgt_std = np.array(target.pooled_mean), np.array(target.pooled_std)
    gain = np.clip(tgt_std / np.maximum(src_std, 1e-6), 1 / max_gain, max_gain)
    return (values - src_mean) * gain + tgt_mean


def match_colours(rgb: np.ndarray, mask: np.ndarray | None, stats: MatchStats, opts: MatchOptions) -> np.ndarray:
    """Step 1 on one uint8 H × W × 3 image (its mask 0…255 when the statistics have regions)."""
    values = to_space(rgb, stats.colour_space)
    if "person" not in stats.source:
        out = _colour_map(values, np.ones(values.shape[:2]), stats.source["whole"], stats.target["whole"], opts.scope,
                          opts.max_gain)
    else:
        if mask is None:
            raise ValueError("the statistics have person and background regions: a mask is needed")
        w = _region_weights(mask)
        person = _colour_map(values, w["person"], stats.source["person"], stats.target["person"], opts.scope,
                             opts.max_gain)
        background = _colour_map(values, w["background"], stats.source["background"], stats.target["background"],
                                 opts.background_scope, opts.max_gain)
        out = w["person"][..., None] * person + w["background"][..., None] * background
    return from_space(out, stats.colour_space)


def add_camera(rgb: np.ndarray, stats: MatchStats, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
    """Step 2: the generator's post-processing with blur and noise drawn from the fitted ranges;
    returns the image and the JPEG quality to encode it with (None: the target is not JPEG)."""
    if stats.blur_sigma is None:
        return rgb, None
    quality = None if stats.jpeg_quality is None else int(round(draw_range(rng, Range(*stats.jpeg_quality))))
    sample = PostprocessSample(noise_std=draw_range(rng, Range(*stats.noise_std)),
                               blur_sigma=draw_range(rng, Range(*stats.blur_sigma)),
                               jpeg_quality=quality or NO_JPEG_QUALITY, downscale=1.0, color_gain=[1.0, 1.0, 1.0],
                               seed=int(rng.integers(2 ** 31)))
    return apply_postprocess(rgb, sample), quality


def match_image(rgb: np.ndarray, mask: np.ndarray | None, stats: MatchStats, opts: MatchOptions,
                rng: np.random.Generator, suffix: str = ".jpg") -> bytes:
    """Both steps on one image, encoded as `suffix` says (a JPEG at the drawn target quality)."""
    from .apply import encode_like

    out, quality = add_camera(match_colours(rgb, mask, stats, opts), stats, rng)
    if suffix.lower() in (".jpg", ".jpeg") and quality is not None:
        return encode_jpeg(out, quality)
    if quality is not None:  # a lossless file still gets the target's JPEG artefacts
        out = decode_image(encode_jpeg(out, quality))
    return encode_like(Image.fromarray(out), "x" + suffix, NO_JPEG_QUALITY)


@dataclass
class MatchResult:
    output: Path
    images: int
    measure_seconds: float  # reading both sides' statistics (once)
    write_seconds: float  # matching and writing every image
    stats: MatchStats


def match_dataset(source: str | Path, target: str | Path, output: str | Path, opts: MatchOptions | None = None, *,
                  source_masks: str | None = None, target_masks: str | None = None, name: str | None = None,
                  overwrite: bool = False, progress: bool = True, strict: bool = False) -> MatchResult:
    """Measure both sides, then write the matched copy of `source` (a generated dataset keeps
    its names, masks, metadata; the statistics go into its provenance)."""
    from .apply import plan_copy, write_copy
    from .data import DomainItem, parse_mask_source
    from .images import load_image

    opts = (opts or MatchOptions()).validate()
    plan = plan_copy(source, output, overwrite=overwrite, strict=strict)
    t0 = time.perf_counter()
    stats = measure(source, target, opts, source_masks, target_masks, strict)
    t1 = time.perf_counter()
    masks = parse_mask_source(source_masks, plan.layout) if "person" in stats.source else None

    def refined() -> Iterator[tuple[str, bytes]]:
        for index, rel in enumerate(plan.rel_paths):
            image = load_image(plan.src / rel)
            mask = None
            if masks is not None:  # the same mask source as measured
                mask_image = masks(DomainItem(plan.src / rel, plan.masks.get(rel), rel), image)
                if mask_image is None:
                    raise ValueError(f"{plan.src / rel}: no person mask (person/background matching needs one)")
                mask = np.asarray(mask_image)
            rng = np.random.default_rng([opts.seed, index, 0x57A7])
            yield rel, match_image(np.asarray(image), mask, stats, opts, rng, Path(rel).suffix)

    provenance = {"method": "stats", "options": opts.to_dict(), "source": str(Path(source).resolve()),
                  "target": str(Path(target).resolve()), "source_masks": source_masks or "auto",
                  "target_masks": target_masks or "auto", "statistics": stats.to_dict()}
    result = write_copy(plan, refined(), provenance, name=name, progress=progress)
    return MatchResult(result.output, result.images, t1 - t0, time.perf_counter() - t1, stats)
