"""Fit a spec to a target site: read the statistics of real crops, write them into the spec.

`fit_spec(spec, target, generated)` returns a copy of `spec` whose colours, camera
degradations and crop shape follow the target crops' statistics (`crop_stats.CropStats`):

* upper-/lower-body colours → custom palettes ``fitted_upper`` / ``fitted_lower`` (an
  empirical sample of the target's per-crop colours, so their frequencies carry over),
  used as `clothing.top_palettes` / `bottom_palettes`. Observed colours are lit colours:
  they are divided by the renderer's shading factor (observed / albedo luminance of the
  spec's own palettes, read off `generated` crops of the spec, else `DEFAULT_SHADING`);
* noise and blur → the `postprocess` σs whose *measured* values after our own pipeline
  match the target's (`invert_degradation`: our camera model simulated on project-made
  crops); JPEG quality → the target's 10th–90th percentile;
* brightness, contrast, colour cast → `postprocess.exposure` / `contrast` / `color_cast`
  and the light's colour temperature (need `generated`);
* crop height and height/width → `render.crop_height`, `box.output_aspect`;
* background colours → `background.value` / `saturation` (used by the `varied` kind).

Camera elevation is searched, not read off: `pick_elevation` compares the target's
`crop_stats.elevation_profile`s with those of crops rendered at each of `ELEVATION_BANDS`
(`headless fit --elevation`) and keeps the band at the smallest MMD². Lighting direction,
hair and textures are not inferred (the report says so). `domain_distance` is a kernel
two-sample statistic on `crop_stats.features`.
numpy only: `headless fit` wraps this with file handling and optional preview renders.
"""
from __future__ import annotations

import colorsys
import copy
import functools
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import palettes
from .crop_stats import CropStats, features, mmd2, to_linear, to_srgb
from .spec import Range, Spec

FITTED_UPPER, FITTED_LOWER = "fitted_upper", "fitted_lower"
PALETTE_SIZE = 64
# Observed / albedo linear luminance of the upper and lower body band in our renders, used
# when no generated crops are given: measured by `headless fit --render 24` on preset IV
# (256 px): 0.36–0.39 and 1.14–1.15 (the lower band holds bright floor between the legs).
DEFAULT_SHADING = (0.37, 1.15)
# What a clean render already has before post-processing (Cycles + OIDN at 4 samples).
DEFAULT_RENDER_BLUR = 1.0  # px: measured 1.07 on the same renders (AA filter + denoiser)


@dataclass
class FitResult:
    spec: Spec
    report: dict[str, Any] = field(default_factory=dict)


def _pct(values, q) -> np.ndarray:
    return np.percentile(np.asarray(values, np.float64), q)


def _less(total: float, part: float) -> float:
    """What remains of a blur or noise σ after removing `part` (they add in quadrature)."""
    return float(np.sqrt(max(total ** 2 - part ** 2, 0.0)))


def _mean_sq(r: Range) -> float:
    """E[x²] of a uniformly drawn range (close enough for a truncated normal too)."""
    return (r.low ** 2 + r.low * r.high + r.high ** 2) / 3.0


def _luminance(lin: np.ndarray) -> float:
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def palette_albedo_luminance(spec: Spec, weights: dict[str, float]) -> float:
    """Expected linear luminance of a colour drawn from palette `weights` of `spec`."""
    total = sum(weights.values()) or 1.0
    out = 0.0
    for name, w in weights.items():
        cols = palettes.palette_colors(name, spec.clothing.custom_palettes)
        out += w / total * float(np.mean([_luminance(np.array(palettes.hex_to_linear(c))) for c in cols]))
    return out


def shading_factor(spec: Spec, generated: list[CropStats], role: str = "upper") -> float:
    """Observed / albedo linear luminance of the upper (or lower) body in crops rendered
    from `spec` (legs get less light than shoulders: each role has its own)."""
    attr, weights = (("upper_rgb", spec.clothing.top_palettes) if role == "upper"
                     else ("lower_rgb", spec.clothing.bottom_palettes))
    observed = float(np.mean([_luminance(to_linear(getattr(s, attr))) for s in generated]))
    albedo = palette_albedo_luminance(spec, weights or spec.clothing.palettes)
    return float(np.clip(observed / max(albedo, 1e-4), 0.05, 5.0))


def fitted_palette(colors: list[tuple[float, float, float]], gain: float, size: int, seed: int) -> list[str]:
    """`size` of the observed sRGB colours (a seeded sample, so frequencies carry over), as
    albedo: linear colour divided by `gain`, back to sRGB hex."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(colors), size=min(size, len(colors)), replace=False)
    return [palettes.srgb_to_hex(to_srgb(to_linear(colors[i]) / gain)) for i in sorted(pick)]


def domain_distance(a: list[CropStats], b: list[CropStats], reference: list[CropStats] | None = None) -> float:
    """Kernel two-sample statistic (MMD²) between two sets of crops.

    Features are scaled by the spread of `reference` (default: `b`, the target) and the
    kernel's bandwidth is the median distance within it, so distances of different
    generated sets to one target are comparable."""
    scale, bandwidth = reference_kernel(features(reference or b))
    return mmd2(features(a), features(b), scale=scale, bandwidth=bandwidth)


def reference_kernel(ref: np.ndarray) -> tuple[np.ndarray, float]:
    """(per-feature scale, kernel bandwidth) read off one reference sample: its spread, and
    the median pairwise distance within it, so every set compared with it shares one scale."""
    scale = ref.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = ref / scale
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    return scale, float(np.median(d[np.triu_indices(len(z), 1)])) or 1.0


# Camera elevation bands searched by `headless fit --elevation` (θ from the zenith, degrees):
# overlapping, from a camera high above people to one at their eye height.
ELEVATION_BANDS = ((30.0, 50.0), (45.0, 65.0), (60.0, 80.0), (75.0, 90.0))


def pick_elevation(target: np.ndarray, candidates: dict[tuple[float, float], np.ndarray]
                   ) -> tuple[tuple[float, float], dict[tuple[float, float], float]]:
    """The band whose rendered crops' elevation profiles are nearest the target's (MMD², one
    scale and bandwidth from the target for every band), and every band's distance.

    On our own renders (IV-realistic, 128 crops per band, another dataset seed as the target)
    it recovered each of the four bands (docs/fitting.md); with 32 crops it did not."""
    scale, bandwidth = reference_kernel(target)
    distances = {band: mmd2(profiles, target, scale=scale, bandwidth=bandwidth)
                 for band, profiles in candidates.items()}
    return min(distances, key=distances.get), distances


def summarize(stats: list[CropStats]) -> dict[str, Any]:
    """Percentiles (10, 50, 90) of what a folder of crops looks like, for the report."""
    def p(values):
        return [round(float(v), 4) for v in _pct(values, [10, 50, 90])]

    jpeg = [s.jpeg_quality for s in stats if s.jpeg_quality is not None]
    return {
        "crops": len(stats),
        "height_px": p([s.height for s in stats]), "width_px": p([s.width for s in stats]),
        "height_over_width": p([s.height / max(s.width, 1) for s in stats]),
        "luma_mean": p([s.luma_mean for s in stats]), "luma_std": p([s.luma_std for s in stats]),
        "noise_std": p([s.noise_std for s in stats]), "blur_sigma_px": p([s.blur_sigma for s in stats]),
        "jpeg_quality": p(jpeg) if jpeg else None,
        "colour_cast": p([max(abs(g - 1) for g in s.channel_gain) for s in stats]),
        "background_value": p([max(s.background_rgb) for s in stats]),
        "background_texture": p([s.background_texture for s in stats]),
        "upper_colour_names": color_name_shares([s.upper_rgb for s in stats]),
        "lower_colour_names": color_name_shares([s.lower_rgb for s in stats]),
    }


def color_name(rgb: tuple[float, float, float]) -> str:
    """The attribute-annotation colour name of an sRGB colour, by value, saturation and hue
    (the way annotators name clothes: dark → black, unsaturated → grey or white)."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    if v < 0.22:
        return "black"
    if s < 0.2 or (s < 0.3 and v < 0.35):
        return "white" if v > 0.72 else "gray"
    deg = h * 360.0
    if deg < 18 or deg >= 335:
        return "pink" if v > 0.65 and s < 0.5 else "red"
    if deg < 48:
        return "brown" if v < 0.65 else "yellow"
    if deg < 70:
        return "yellow"
    if deg < 170:
        return "green"
    if deg < 260:
        return "blue"
    if deg < 300:
        return "purple"
    return "pink"


def color_name_shares(colors: list[tuple[float, float, float]]) -> dict[str, float]:
    """Share of crops whose colour has each attribute colour name (`color_name`)."""
    counts: dict[str, int] = {}
    for c in colors:
        name = color_name(c)
        counts[name] = counts.get(name, 0) + 1
    n = max(len(colors), 1)
    return {k: round(v / n, 3) for k, v in sorted(counts.items(), key=lambda t: -t[1])}


# ---------------------------------------------------------------------------------------
# Blur and noise: what the estimates of `crop_stats` read after our own pipeline.
#
# The estimates are biased by JPEG (4:2:0 chroma subsampling and quantisation hide noise),
# by noise (which looks sharp) and by the content. Instead of modelling that, we run the
# post-processing itself on project-made reference crops over a grid of (blur, noise) and
# invert the measured table: the fitted σs are those whose *measured* blur and noise match
# the target's (a one-step attribute search on a simulator of our camera model).

_BLUR_GRID = np.linspace(0.0, 3.0, 13)
_NOISE_GRID = np.linspace(0.0, 0.06, 13)


def reference_crops(render_blur: float, n: int = 3, seed: int = 7) -> list[np.ndarray]:
    """Project-made person-like crops, as sharp as a render (`render_blur`): flat-coloured
    blocks (background, head, torso, legs — step edges, like real crops) with a natural
    (1/f) texture over them."""
    from .postprocess import apply_blur

    rng = np.random.default_rng(seed)
    out = []
    h, w = 160, 64
    f = np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2
    f[0, 0] = 1.0
    for _ in range(n):
        spec = (rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))) / np.sqrt(f)
        spec[0, 0] = 0.0
        tex = np.real(np.fft.ifft2(spec))
        tex = (tex - tex.mean()) / tex.std()
        img = np.empty((h, w, 3), np.float32)
        img[:] = rng.uniform(0.2, 0.8, size=3)
        for rows, cols in (((0.04, 0.16), (0.4, 0.6)), ((0.16, 0.52), (0.25, 0.75)), ((0.52, 0.95), (0.3, 0.7))):
            img[int(rows[0] * h):int(rows[1] * h), int(cols[0] * w):int(cols[1] * w)] = rng.uniform(0.05, 0.9, size=3)
        img = np.clip(img * (1 + 0.2 * tex)[..., None], 0, 1).astype(np.float32)
        out.append(apply_blur(img, render_blur))
    return out


@functools.lru_cache(maxsize=8)
def degradation_table(quality: int, render_blur: float) -> tuple[np.ndarray, np.ndarray]:
    """Measured (blur, noise) estimates, each (len(_BLUR_GRID), len(_NOISE_GRID)), of reference
    crops degraded by every grid (blur σ, noise σ) and saved as JPEG of `quality`."""
    from PIL import Image

    from .crop_stats import crop_stats
    from .postprocess import apply_blur, apply_noise, encode_jpeg, to_uint8

    refs = reference_crops(render_blur)
    est_b = np.zeros((len(_BLUR_GRID), len(_NOISE_GRID)))
    est_n = np.zeros_like(est_b)
    rng = np.random.default_rng(11)
    for i, b in enumerate(_BLUR_GRID):
        blurred = [apply_blur(r, float(b)) for r in refs]
        for j, n in enumerate(_NOISE_GRID):
            bs, ns = [], []
            for img in blurred:
                data = encode_jpeg(to_uint8(apply_noise(img, float(n), rng)), quality)
                with Image.open(io.BytesIO(data)) as im:
                    st = crop_stats(im)
                bs.append(st.blur_sigma)
                ns.append(st.noise_std)
            est_b[i, j], est_n[i, j] = np.mean(bs), np.mean(ns)
    return est_b, est_n


def invert_degradation(blur_est: float, noise_est: float, quality: int, render_blur: float,
                       blur: float | None = None, noise: float | None = None) -> tuple[float, float]:
    """The (blur σ, noise σ) of our post-processing whose measured estimates are nearest
    (`blur_est`, `noise_est`), with JPEG `quality` and renders as sharp as `render_blur`.
    Given `blur` (or `noise`), only the other one is searched, with that one held fixed."""
    est_b, est_n = degradation_table(int(quality), round(float(render_blur), 2))
    cost = (np.log(est_b + 0.2) - np.log(blur_est + 0.2)) ** 2 + (np.log(est_n + 2e-3) - np.log(noise_est + 2e-3)) ** 2
    # Past some blur, noise dominates what is left and the blur estimate falls again: only
    # the rising part of each column is a valid answer.
    cost[est_b < np.maximum.accumulate(est_b, axis=0) - 1e-9] = np.inf
    if blur is not None:
        cost[np.arange(len(_BLUR_GRID)) != int(np.argmin(np.abs(_BLUR_GRID - blur)))] = np.inf
    if noise is not None:
        cost[:, np.arange(len(_NOISE_GRID)) != int(np.argmin(np.abs(_NOISE_GRID - noise)))] = np.inf
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return float(_BLUR_GRID[i]), float(_NOISE_GRID[j])


def measured_camera(crops: list[CropStats]) -> tuple[float, float]:
    """(blur σ, noise σ) of our post-processing on a perfectly sharp render that measure like
    the median of `crops` (at their median JPEG quality; 95 for lossless files)."""
    quality = [s.jpeg_quality for s in crops if s.jpeg_quality is not None]
    return invert_degradation(float(np.median([s.blur_sigma for s in crops])),
                              float(np.median([s.noise_std for s in crops])),
                              int(np.median(quality)) if quality else 95, 0.0)


def fit_camera(target: list[CropStats], render_blur: float, default_quality: Range) -> dict[str, Range | None]:
    """The post-processing ranges that make renders as sharp as `render_blur` measure like the
    `target` crops: `jpeg_quality`, the target's 10th–90th percentile (None for targets that
    are not JPEG; `default_quality` is then assumed), and `blur_sigma`, `noise_std`, the σs
    whose measured values after our pipeline match the target's 10th, 50th and 90th
    percentiles (see `invert_degradation`)."""
    jpeg = [s.jpeg_quality for s in target if s.jpeg_quality is not None]
    fitted_quality = Range(*(float(round(q)) for q in _pct(jpeg, [10, 90]))) if jpeg else None
    assumed = fitted_quality or default_quality
    quality = int(round((assumed.low + assumed.high) / 2))
    tb, tn = [s.blur_sigma for s in target], [s.noise_std for s in target]
    b50, n50 = invert_degradation(float(np.median(tb)), float(np.median(tn)), quality, render_blur)
    # The spread of each with the other held at the median (joint percentiles are unstable).
    blurs = [b50] + [invert_degradation(float(_pct(tb, q)), float(np.median(tn)), quality, render_blur, noise=n50)[0]
                     for q in (10, 90)]
    noises = [n50] + [invert_degradation(float(np.median(tb)), float(_pct(tn, q)), quality, render_blur, blur=b50)[1]
                      for q in (10, 90)]
    return {"jpeg_quality": fitted_quality, "blur_sigma": Range(round(min(blurs), 3), round(max(blurs), 3)),
            "noise_std": Range(round(min(noises), 4), round(max(noises), 4))}


def fit_spec(spec: Spec, target: list[CropStats], generated: list[CropStats] | None = None,
             seed: int = 0, render_blur: float = DEFAULT_RENDER_BLUR, shading: float | None = None) -> FitResult:
    """A copy of `spec` fitted to the `target` crops (see the module doc).

    `generated`: crops rendered from `spec` itself (optional); they calibrate the shading
    factors, the renderer's own blur, exposure, contrast and colour cast. Without them
    `render_blur` and `shading` (one factor for both roles; default `DEFAULT_SHADING`)
    are assumed."""
    if len(target) < 2:
        raise ValueError(f"need at least 2 target crops, got {len(target)}")
    out = copy.deepcopy(spec)
    report: dict[str, Any] = {"target": summarize(target), "assumed": {}, "fitted": {}, "not_fitted": []}
    pp = out.postprocess
    exposure = 1.0
    if generated:
        report["generated"] = summarize(generated)
        shading_upper = shading_factor(spec, generated, "upper") if shading is None else shading
        shading_lower = shading_factor(spec, generated, "lower") if shading is None else shading
        # The generated crops carry the spec's own degradations: take them out to get the renderer's.
        # The generated crops carry the spec's own blur: what is left is the renderer's.
        b_gen, _ = measured_camera(generated)
        render_blur = _less(b_gen, np.sqrt(_mean_sq(spec.postprocess.blur_sigma)))
        report["assumed"]["render_blur_px"] = round(render_blur, 3)
        exposure = float(np.median([s.luma_mean for s in target]) / max(np.median([s.luma_mean for s in generated]), 1e-3))
        exposure = float(np.clip(exposure, 0.25, 4.0))
        contrast = float(np.median([s.luma_std for s in target]) /
                         max(np.median([s.luma_std for s in generated]) * exposure, 1e-3))
        contrast = float(np.clip(contrast, 0.5, 2.0))
        pp.exposure = Range(round(exposure * 0.9, 3), round(exposure * 1.1, 3))
        pp.contrast = Range(round(contrast * 0.92, 3), round(contrast * 1.08, 3))
        cast_t = float(_pct([max(abs(g - 1) for g in s.channel_gain) for s in target], 50))
        cast_g = float(_pct([max(abs(g - 1) for g in s.channel_gain) for s in generated], 50))
        if cast_g > cast_t:
            # Renders more tinted than the target: narrow the light's colour temperature
            # (around daylight) and the white-balance error by the ratio.
            k = cast_t / max(cast_g, 1e-6)
            t = out.lighting.color_temperature_k
            mid = min(max(6000.0, t.low), t.high)
            out.lighting.color_temperature_k = Range(round(mid - (mid - t.low) * k), round(mid + (t.high - mid) * k))
            pp.color_cast = Range(0.0, round(spec.postprocess.color_cast.high * k, 4))
        else:
            pp.color_cast = Range(0.0, round(min(0.5, spec.postprocess.color_cast.high + _less(cast_t, cast_g)), 4))
        report["fitted"].update(exposure=[pp.exposure.low, pp.exposure.high], contrast=[pp.contrast.low, pp.contrast.high],
                                color_cast=[pp.color_cast.low, pp.color_cast.high],
                                color_temperature_k=[out.lighting.color_temperature_k.low,
                                                     out.lighting.color_temperature_k.high])
    else:
        shading_upper, shading_lower = DEFAULT_SHADING if shading is None else (shading, shading)
        report["not_fitted"] += ["postprocess.exposure", "postprocess.contrast", "postprocess.color_cast"]
        report["assumed"]["render_blur_px"] = render_blur
    report["assumed"]["shading"] = [round(float(shading_upper), 4), round(float(shading_lower), 4)]

    # Colours: an empirical sample of the target's per-crop body colours, as albedo.
    cl = out.clothing
    cl.custom_palettes = dict(cl.custom_palettes)
    cl.custom_palettes[FITTED_UPPER] = fitted_palette([s.upper_rgb for s in target], shading_upper * exposure,
                                                      PALETTE_SIZE, seed)
    cl.custom_palettes[FITTED_LOWER] = fitted_palette([s.lower_rgb for s in target], shading_lower * exposure,
                                                      PALETTE_SIZE, seed + 1)
    cl.top_palettes, cl.bottom_palettes = {FITTED_UPPER: 1.0}, {FITTED_LOWER: 1.0}
    cl.jeans = 0.0  # blue legs are already in the fitted lower colours (jeans would add more)
    report["fitted"]["palettes"] = {FITTED_UPPER: len(cl.custom_palettes[FITTED_UPPER]),
                                    FITTED_LOWER: len(cl.custom_palettes[FITTED_LOWER])}

    # Camera degradations: the σs whose measured blur and noise after our pipeline match the
    # target's 10th, 50th and 90th percentiles (see `fit_camera`).
    camera = fit_camera(target, render_blur, pp.jpeg_quality)
    if camera["jpeg_quality"] is not None:
        pp.jpeg_quality = camera["jpeg_quality"]
    else:
        report["not_fitted"].append("postprocess.jpeg_quality (target crops are not JPEG)")
    pp.blur_sigma, pp.noise_std = camera["blur_sigma"], camera["noise_std"]
    pp.downscale = Range(1.0, 1.0)  # resolution loss is part of the fitted blur
    report["fitted"].update(noise_std=[pp.noise_std.low, pp.noise_std.high],
                            blur_sigma=[pp.blur_sigma.low, pp.blur_sigma.high],
                            jpeg_quality=[pp.jpeg_quality.low, pp.jpeg_quality.high])

    # Crop shape: the target's median height and height/width.
    out.render.crop_height = int(round(float(np.median([s.height for s in target]))))
    out.box.output_aspect = round(float(np.median([s.height / max(s.width, 1) for s in target])), 2)
    report["fitted"].update(crop_height=out.render.crop_height, output_aspect=out.box.output_aspect)

    # Background: value and saturation of the side bands (used by the `varied` background).
    hsv = np.array([colorsys.rgb_to_hsv(*s.background_rgb) for s in target])
    v10, v90 = _pct(hsv[:, 2], [10, 90])
    s10, s90 = _pct(hsv[:, 1], [10, 90])
    out.background.value = Range(round(float(v10), 3), round(float(max(v90, v10)), 3))
    out.background.saturation = Range(round(float(s10), 3), round(float(max(s90, s10)), 3))
    report["fitted"].update(background_value=[out.background.value.low, out.background.value.high],
                            background_saturation=[out.background.saturation.low, out.background.saturation.high])
    if out.background.kind != "varied":
        report["not_fitted"].append(f"background images (kind {out.background.kind!r}: only value/saturation of "
                                    "the 'varied' kind are fitted)")
    report["not_fitted"] += ["camera elevation", "lighting direction", "hair", "textures", "box jitter/truncation"]
    out.dataset.name = f"{spec.dataset.name}-fitted"
    return FitResult(out, report)


def refine_light(fitted: Spec, target: list[CropStats], rendered: list[CropStats]) -> Spec:
    """One more step on brightness and contrast, from crops rendered with the fitted spec:
    new palettes change how bright and contrasted people render, so the first estimate of
    `exposure` / `contrast` (made on the unfitted renders) is corrected by the remaining ratio."""
    out = copy.deepcopy(fitted)
    pp = out.postprocess
    e = float(np.median([s.luma_mean for s in target]) / max(np.median([s.luma_mean for s in rendered]), 1e-3))
    c = float(np.median([s.luma_std for s in target]) / max(np.median([s.luma_std for s in rendered]) * e, 1e-3))
    pp.exposure = Range(round(float(np.clip(pp.exposure.low * e, 0.1, 10.0)), 3),
                        round(float(np.clip(pp.exposure.high * e, 0.1, 10.0)), 3))
    pp.contrast = Range(round(float(np.clip(pp.contrast.low * c, 0.1, 5.0)), 3),
                        round(float(np.clip(pp.contrast.high * c, 0.1, 5.0)), 3))
    return out
