"""Checking a dataset spec (`spec.Spec`): `validate_spec` names every bad field with its
allowed range, one small checker per spec section; `market1501_warnings` says where a valid
spec leaves what other toolboxes' Market-1501 readers accept.

Problems are ``(field, message)`` pairs, e.g. ``("camera.radius", "R must be > 0 metres, got -1")``;
an empty list means valid. Nothing here imports `bpy`.
"""
from __future__ import annotations

import math
from pathlib import Path

from .cli_conventions import did_you_mean
from .cubemaps import BUILTIN_CUBEMAPS
from .image_files import check_cubemap_folder, check_image_file
from .spec import (
    ACCESSORY_KINDS, BACKGROUND_KINDS, BOTTOM_KINDS, BUILTIN_HAIR_PALETTES, BUILTIN_PALETTES, CAMERA_ID_MODES,
    DENOISER_PREFILTERS, DENOISERS, DEVICES, DISTRIBUTIONS, ENGINES, ETHNICITIES, HAIR_STYLES, LIGHT_KINDS,
    POSE_SOURCES, SHOE_KINDS, SPEC_VERSION, STRUCTURE_KINDS, TEXTURE_KINDS, TOP_KINDS, AccessoriesSection,
    BackgroundSection, BoxSection, CameraSection, CharacterSection, ClothingSection, DatasetSection, HairSection,
    LightingSection, PostprocessSection, Range, RenderSection, Spec,
)

Problems = list[tuple[str, str]]


def validate_spec(spec: Spec, check_files: bool = True) -> Problems:
    """All problems of a spec as (field, message); an empty list means valid.

    With `check_files`, the files it names (BVH clips, cubemap folders, images) are opened
    too; the UI leaves that for saving and generating.
    """
    palettes = _palette_names(spec.clothing)
    return [
        *_version_problems(spec),
        *_dataset_problems(spec.dataset),
        *_character_problems(spec.character),
        *_pose_problems(spec, check_files),
        *_clothing_problems(spec.clothing, palettes),
        *_hair_problems(spec.hair, spec.clothing),
        *_accessories_problems(spec.accessories, palettes),
        *_background_problems(spec, check_files),
        *_camera_problems(spec.camera, spec.background),
        *_box_problems(spec.box),
        *_lighting_problems(spec.lighting),
        *_render_problems(spec.render),
        *_postprocess_problems(spec.postprocess),
    ]


# ---------------------------------------------------------------------------------------
# One checker per section


def _version_problems(spec: Spec) -> Problems:
    if spec.version != SPEC_VERSION:
        return [("version", f"unsupported spec version {spec.version} (this generator reads {SPEC_VERSION})")]
    return []


def _dataset_problems(d: DatasetSection) -> Problems:
    p: Problems = []
    if d.characters < 1:
        p.append(("dataset.characters", f"must be ≥ 1, got {d.characters}"))
    if d.images_per_character < 1:
        p.append(("dataset.images_per_character", f"must be ≥ 1, got {d.images_per_character}"))
    if d.images_per_character > 999:
        p.append(("dataset.images_per_character", f"must be ≤ 999 (file names have room for 3 digits), got {d.images_per_character}"))
    if d.characters > 9999:
        p.append(("dataset.characters", f"must be ≤ 9999 (Market-1501 ids have 4 digits), got {d.characters}"))
    for name in ("test_characters", "validation_characters"):
        if getattr(d, name) < 0:
            p.append((f"dataset.{name}", f"must be ≥ 0, got {getattr(d, name)}"))
    if d.test_characters + d.validation_characters > d.characters:
        p.append(("dataset.test_characters",
                  f"test ({d.test_characters}) + validation ({d.validation_characters}) characters exceed "
                  f"dataset.characters ({d.characters})"))
    if d.seed < 0:
        p.append(("dataset.seed", f"must be ≥ 0, got {d.seed}"))
    _check_choice(p, "dataset.camera_id_mode", d.camera_id_mode, CAMERA_ID_MODES)
    if not 1 <= d.camera_id_bins <= 9:
        p.append(("dataset.camera_id_bins", f"must lie within [1, 9] (one digit in c<cam>), got {d.camera_id_bins}"))
    return p


def _character_problems(c: CharacterSection) -> Problems:
    p: Problems = []
    _check_range(p, "character.age_years", c.age_years, 1.0, 90.0)
    _check_probability(p, "character.male_fraction", c.male_fraction)
    _check_range(p, "character.gender_strength", c.gender_strength, 0.5, 1.0)
    for name in ("weight", "muscle", "height", "proportions"):
        _check_range(p, f"character.{name}", getattr(c, name), 0.0, 1.0)
    _check_weights(p, "character.ethnicity", c.ethnicity, ETHNICITIES, probabilities=False)
    return p


def _pose_problems(spec: Spec, check_files: bool) -> Problems:
    p: Problems = []
    po = spec.pose
    _check_weights(p, "pose.sources", po.sources, POSE_SOURCES, probabilities=False)
    _check_range(p, "pose.stride", po.stride, 0.0, 2.0)
    _check_range(p, "pose.arm_swing", po.arm_swing, 0.0, 3.0)
    if po.sources.get("bvh", 0) > 0 and not po.bvh_files:
        p.append(("pose.bvh_files", "pose.sources.bvh > 0 needs at least one BVH file"))
    for i, f in enumerate(po.bvh_files):
        if check_files and (why := check_bvh_file(spec.resolve_path(f))) is not None:
            p.append((f"pose.bvh_files[{i}]", why))
    return p


def _palette_names(cl: ClothingSection) -> tuple[str, ...]:
    """Palettes garments and accessories may name: the built-in ones and the spec's own."""
    return tuple(sorted(set(BUILTIN_PALETTES) | set(cl.custom_palettes)))


def _clothing_problems(cl: ClothingSection, palettes: tuple[str, ...]) -> Problems:
    p: Problems = []
    _check_weights(p, "clothing.tops", cl.tops, TOP_KINDS, probabilities=True)
    _check_weights(p, "clothing.bottoms", cl.bottoms, BOTTOM_KINDS, probabilities=True)
    _check_weights(p, "clothing.male_bottoms", cl.male_bottoms, BOTTOM_KINDS, probabilities=True)
    _check_weights(p, "clothing.shoes", cl.shoes, SHOE_KINDS, probabilities=True)
    _check_weights(p, "clothing.palettes", cl.palettes, palettes, probabilities=False)
    _check_weights(p, "clothing.textures", cl.textures, TEXTURE_KINDS, probabilities=False)
    for role in ("top", "bottom"):  # empty = the shared table
        _check_weights(p, f"clothing.{role}_palettes", getattr(cl, f"{role}_palettes"), palettes,
                       probabilities=False, allow_empty=True)
        _check_weights(p, f"clothing.{role}_textures", getattr(cl, f"{role}_textures"), TEXTURE_KINDS,
                       probabilities=False, allow_empty=True)
    _check_range(p, "clothing.texture_scale", cl.texture_scale, 0.05, 20.0)
    _check_probability(p, "clothing.jeans", cl.jeans)
    _check_weights(p, "clothing.shoe_palettes", cl.shoe_palettes, palettes, probabilities=False)
    for name, colors in cl.custom_palettes.items():
        if not colors:
            p.append((f"clothing.custom_palettes.{name}", "palette is empty: give at least one '#rrggbb' colour"))
        for i, col in enumerate(colors):
            _check_color(p, f"clothing.custom_palettes.{name}[{i}]", col)
    return p


def _hair_problems(h: HairSection, cl: ClothingSection) -> Problems:
    p: Problems = []
    _check_range(p, "hair.volume", h.volume, 0.5, 3.0)
    _check_range(p, "hair.ragged", h.ragged, 0.0, 1.0)
    _check_weights(p, "hair.styles", h.styles, HAIR_STYLES, probabilities=True)
    _check_weights(p, "hair.male_styles", h.male_styles, HAIR_STYLES, probabilities=True)
    # Hair may use the built-in hair palettes and the custom palettes of `clothing`.
    _check_weights(p, "hair.palettes", h.palettes, tuple(sorted(set(BUILTIN_HAIR_PALETTES) | set(cl.custom_palettes))),
                   probabilities=False)
    return p


def _accessories_problems(a: AccessoriesSection, palettes: tuple[str, ...]) -> Problems:
    p: Problems = []
    for name in ACCESSORY_KINDS:
        _check_probability(p, f"accessories.{name}", getattr(a, name))
    _check_weights(p, "accessories.palettes", a.palettes, palettes, probabilities=False)
    return p


def _background_problems(spec: Spec, check_files: bool) -> Problems:
    p: Problems = []
    b = spec.background
    _check_choice(p, "background.kind", b.kind, BACKGROUND_KINDS)
    _check_range(p, "background.value", b.value, 0.0, 1.0)
    _check_range(p, "background.saturation", b.saturation, 0.0, 1.0)
    _check_range(p, "background.room_size", b.room_size, 1.0, 1000.0)
    _check_weights(p, "background.structures", b.structures, STRUCTURE_KINDS, probabilities=False, allow_empty=True)
    for k, v in b.structures.items():
        if math.isfinite(v) and v > 8:
            p.append((f"background.structures.{k}", f"at most 8 per character, got {v}"))
    _check_range(p, "background.structure_distance", b.structure_distance, 0.6, 50.0)
    for name in ("passers_by", "occluders"):
        v = getattr(b, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 4):
            p.append((f"background.{name}", f"must be a number of people per character in 0…4, got {v!r}"))
    _check_range(p, "background.passer_by_distance", b.passer_by_distance, 0.5, 50.0)
    if not (isinstance(b.people_pool, int) and 1 <= b.people_pool <= 10_000):
        p.append(("background.people_pool", f"must be a whole number of people in 1…10000, got {b.people_pool!r}"))
    elif b.people_pool < math.ceil(b.passers_by) + math.ceil(b.occluders):
        p.append(("background.people_pool", f"{b.people_pool} people cannot fill "
                  f"{math.ceil(b.passers_by) + math.ceil(b.occluders)} places per character"))
    if b.kind == "fixed":
        if not b.colors:
            p.append(("background.colors", "kind 'fixed' needs at least one colour"))
        for i, col in enumerate(b.colors):
            _check_color(p, f"background.colors[{i}]", col)
    if b.kind == "cubemap":
        if not b.cubemaps:
            p.append(("background.cubemaps", "kind 'cubemap' needs at least one cubemap folder or 'builtin:<name>'"))
        for i, folder in enumerate(b.cubemaps):
            if folder.startswith("builtin:"):
                name = folder.split(":", 1)[1]
                if name != "all" and name not in BUILTIN_CUBEMAPS:
                    p.append((f"background.cubemaps[{i}]",
                              f"unknown built-in cubemap {name!r} (known: all, {', '.join(BUILTIN_CUBEMAPS)})"))
            elif check_files:
                for msg in check_cubemap_folder(spec.resolve_path(folder)):
                    p.append((f"background.cubemaps[{i}]", msg))
    if b.kind == "equirectangular":
        if not b.equirectangular:
            p.append(("background.equirectangular", "kind 'equirectangular' needs at least one image file"))
        for i, f in enumerate(b.equirectangular):
            if check_files and (why := check_image_file(spec.resolve_path(f))) is not None:
                p.append((f"background.equirectangular[{i}]", why))
    return p


def _camera_problems(cam: CameraSection, b: BackgroundSection) -> Problems:
    p: Problems = []
    if not cam.radius > 0:
        p.append(("camera.radius", f"R must be > 0 metres, got {cam.radius}"))
    for name in ("theta1_deg", "theta2_deg"):
        v = getattr(cam, name)
        if not 0.0 <= v <= 90.0:
            p.append((f"camera.{name}", f"must lie within [0, 90] degrees (a hemisphere), got {v}"))
    if cam.theta1_deg >= cam.theta2_deg:
        p.append(("camera.theta1_deg",
                  f"θ1 ({cam.theta1_deg}) must be smaller than θ2 ({cam.theta2_deg}): θ is measured from the zenith"))
    if not 1.0 <= cam.focal_length_mm <= 2000.0:
        p.append(("camera.focal_length_mm", f"must lie within [1, 2000] mm, got {cam.focal_length_mm}"))
    if not 1.0 <= cam.sensor_width_mm <= 100.0:
        p.append(("camera.sensor_width_mm", f"must lie within [1, 100] mm, got {cam.sensor_width_mm}"))
    if not 0.0 <= cam.aim_jitter_deg <= 20.0:
        p.append(("camera.aim_jitter_deg", f"must lie within [0, 20] degrees, got {cam.aim_jitter_deg}"))
    if not 0.0 <= cam.radius_jitter < 1.0:
        p.append(("camera.radius_jitter", f"must lie within [0, 1), got {cam.radius_jitter}"))
    # The camera stands inside the room the backgrounds build (an equirectangular one is at infinity).
    if cam.radius * (1 + cam.radius_jitter) > b.room_size.low / 2 and b.kind in ("fixed", "varied", "cubemap"):
        p.append(("camera.radius",
                  f"cameras up to {cam.radius * (1 + cam.radius_jitter):.2f} m away do not fit in a room of "
                  f"{b.room_size.low} m (background.room_size.low must exceed 2·R)"))
    return p


def _box_problems(bx: BoxSection) -> Problems:
    p: Problems = []
    _check_range(p, "box.scale", bx.scale, 0.5, 2.0)
    _check_range(p, "box.aspect", bx.aspect, 0.3, 3.0)
    _check_range(p, "box.shift_x", bx.shift_x, -0.5, 0.5)
    _check_range(p, "box.shift_y", bx.shift_y, -0.5, 0.5)
    _check_probability(p, "box.truncate_head", bx.truncate_head)
    _check_probability(p, "box.truncate_feet", bx.truncate_feet)
    _check_range(p, "box.truncate_fraction", bx.truncate_fraction, 0.0, 0.4)
    if not (bx.output_aspect == 0.0 or 0.5 <= bx.output_aspect <= 8.0):
        p.append(("box.output_aspect", f"must be 0 (follow the person) or lie within [0.5, 8] (height/width), "
                                       f"got {bx.output_aspect}"))
    return p


def _lighting_problems(li: LightingSection) -> Problems:
    p: Problems = []
    _check_weights(p, "lighting.kinds", li.kinds, LIGHT_KINDS, probabilities=False)
    _check_range(p, "lighting.strength", li.strength, 0.0, 1000.0)
    _check_range(p, "lighting.color_temperature_k", li.color_temperature_k, 1000.0, 20000.0)
    _check_range(p, "lighting.elevation_deg", li.elevation_deg, 0.0, 90.0)
    _check_range(p, "lighting.world_strength", li.world_strength, 0.0, 100.0)
    return p


def _render_problems(r: RenderSection) -> Problems:
    p: Problems = []
    _check_choice(p, "render.engine", r.engine, ENGINES)
    _check_choice(p, "render.device", r.device, DEVICES)
    _check_choice(p, "render.denoiser", r.denoiser, DENOISERS)
    _check_choice(p, "render.denoiser_prefilter", r.denoiser_prefilter, DENOISER_PREFILTERS)
    if not 1 <= r.samples <= 4096:
        p.append(("render.samples", f"must lie within [1, 4096], got {r.samples}"))
    if not 0 <= r.max_bounces <= 64:
        p.append(("render.max_bounces", f"must lie within [0, 64], got {r.max_bounces}"))
    if not 0.0 <= r.adaptive_threshold <= 1.0:
        p.append(("render.adaptive_threshold", f"must lie within [0, 1], got {r.adaptive_threshold}"))
    if not 16 <= r.crop_height <= 4096:
        p.append(("render.crop_height", f"must lie within [16, 4096] pixels, got {r.crop_height}"))
    if not 0.0 <= r.margin <= 0.5:
        p.append(("render.margin", f"must lie within [0, 0.5], got {r.margin}"))
    if r.threads < 0:
        p.append(("render.threads", f"must be ≥ 0 (0 = all cores), got {r.threads}"))
    return p


def _postprocess_problems(pp: PostprocessSection) -> Problems:
    p: Problems = []
    _check_range(p, "postprocess.noise_std", pp.noise_std, 0.0, 0.5)
    _check_range(p, "postprocess.blur_sigma", pp.blur_sigma, 0.0, 10.0)
    _check_range(p, "postprocess.jpeg_quality", pp.jpeg_quality, 1.0, 100.0)
    _check_range(p, "postprocess.downscale", pp.downscale, 1.0, 8.0)
    _check_range(p, "postprocess.color_cast", pp.color_cast, 0.0, 0.5)
    _check_range(p, "postprocess.exposure", pp.exposure, 0.1, 10.0)
    _check_range(p, "postprocess.contrast", pp.contrast, 0.1, 5.0)
    return p


# ---------------------------------------------------------------------------------------
# Checks of one value, shared by the sections: each appends its problems to `problems`


def _check_range(problems: Problems, path: str, r: Range, lo: float | None = None, hi: float | None = None):
    if r.distribution not in DISTRIBUTIONS:
        problems.append((path, f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {r.distribution!r}"))
    if not (math.isfinite(r.low) and math.isfinite(r.high)):
        problems.append((path, "low and high must be finite numbers"))
        return
    if r.low > r.high:
        problems.append((path, f"low ({r.low}) must not exceed high ({r.high})"))
    if lo is not None and r.low < lo or hi is not None and r.high > hi:
        problems.append((path, f"must lie within [{lo}, {hi}], got [{r.low}, {r.high}]"))


def _check_weights(problems: Problems, path: str, weights: dict[str, float], known: tuple[str, ...] | None,
                   probabilities: bool, allow_empty: bool = False):
    for k, w in weights.items():
        if known is not None and k not in known:
            problems.append((f"{path}.{k}", f"unknown name{did_you_mean(k, known)} (known: {', '.join(known)})"))
        if not math.isfinite(w) or w < 0:
            problems.append((f"{path}.{k}", f"weight must be a number ≥ 0, got {w}"))
        elif probabilities and w > 1:
            problems.append((f"{path}.{k}", f"probability must lie within [0, 1], got {w}"))
    total = sum(w for w in weights.values() if math.isfinite(w) and w >= 0)
    if probabilities and total > 1 + 1e-9:
        problems.append((path, f"probabilities sum to {total:.3f}; they must sum to at most 1 (the rest means none)"))
    if not probabilities and total <= 0 and not (allow_empty and not weights):
        problems.append((path, "needs at least one choice with a weight > 0"))


def _check_choice(problems: Problems, path: str, value: str, allowed: tuple[str, ...]):
    if value not in allowed:
        problems.append((path, f"must be one of {', '.join(allowed)}, got {value!r}"))


def _check_color(problems: Problems, path: str, c: str):
    s = c[1:] if c.startswith("#") else c
    if len(s) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in s):
        problems.append((path, f"expected a colour '#rrggbb', got {c!r}"))


def _check_probability(problems: Problems, path: str, p: float):
    if not (0.0 <= p <= 1.0):
        problems.append((path, f"probability must lie within [0, 1], got {p}"))


def check_bvh_file(path: Path) -> str | None:
    """Why `path` is not a BVH motion file, or None."""
    if not path.is_file():
        return f"file not found: {path}"
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path} is not a readable BVH text file ({type(exc).__name__})"
    if not head.lstrip().upper().startswith("HIERARCHY"):
        return f"{path} is not a BVH file (it must start with HIERARCHY)"
    return None


# ---------------------------------------------------------------------------------------
# Market-1501 compatibility (warnings, not errors)

# What torchreid's and fast-reid's Market-1501 readers accept (they assert both).
MARKET1501_MAX_PID = 1501
MARKET1501_MAX_CAMERA = 6


def max_camera_id(d: DatasetSection) -> int:
    """The largest camera id the dataset section can produce (see geometry.camera_id)."""
    return 2 * max(1, d.camera_id_bins // 2) if d.camera_id_mode == "azimuth_elevation" else d.camera_id_bins


def market1501_warnings(spec: Spec) -> list[tuple[str, str]]:
    """Where a valid spec leaves the ranges other toolboxes' Market-1501 readers accept.

    The dataset is still written and this project reads it; torchreid and fast-reid refuse
    it as Market-1501 (`assert 1 <= camid <= 6`, `assert 0 <= pid <= 1501`), but read an
    MSMT17-layout copy at any size (`python -m headless export`).
    """
    d = spec.dataset
    hint = "torchreid's and fast-reid's Market-1501 readers refuse it; `python -m headless export DATASET " \
           "--layout msmt17` writes a copy they read at any size (docs/cli.md)"
    out = []
    if d.characters > MARKET1501_MAX_PID:
        out.append(("dataset.characters", f"identities up to {d.characters} exceed Market-1501's "
                                          f"{MARKET1501_MAX_PID}: {hint}"))
    cams = max_camera_id(d)
    if cams > MARKET1501_MAX_CAMERA:
        out.append(("dataset.camera_id_bins", f"camera ids up to {cams} exceed Market-1501's "
                                              f"{MARKET1501_MAX_CAMERA}: {hint}"))
    return out
