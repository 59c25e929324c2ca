"""The dataset spec: one typed object that says what dataset to generate.

It is read from TOML (`load_spec`), shown in the add-on UI, sent to the farm's workers as
plain JSON (`spec_to_dict` / `spec_from_dict`) and checked by `validate_spec`, which names
every bad field with its allowed range. Nothing here imports `bpy`.

Conventions used throughout the project:

* Body attributes other than age are MakeHuman macro values in [0, 1] (0.5 = average).
  Age is given in years (MakeHuman maps 1..90 years onto its age macro).
* The camera lies on a segment of a hemisphere of radius R around the character.
  θ is the polar angle measured from the zenith: θ = 0° looks straight down, θ = 90° is
  at the character's mid-height. A valid segment has 0 ≤ θ1 < θ2 ≤ 90°.
* Probabilities are given as ``{choice = weight}`` tables. For garment slots the weights
  are probabilities: when they sum to less than 1 the rest is the chance of "none".
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

# Image suffixes, cubemap faces and the image checks live with the image files; named here too
# because the spec's users (UI, tests) read them as part of the spec's vocabulary.
from .image_files import CUBEMAP_FACES, IMAGE_EXTENSIONS, check_cubemap_folder, check_image_file  # noqa: F401

SPEC_VERSION = 1

# Catalogues: the names the generator knows how to build. Unknown names are refused.
TOP_KINDS = ("tshirt", "longsleeve", "jacket")
BOTTOM_KINDS = ("trousers", "shorts", "skirt")
SHOE_KINDS = ("shoes", "boots")
HAIR_STYLES = ("short", "medium", "long", "ponytail", "bun")
ACCESSORY_KINDS = ("backpack", "shoulder_bag", "cap", "hat", "glasses")
TEXTURE_KINDS = ("solid", "stripes", "checks", "plaid", "dots", "noise", "camouflage", "denim", "knit")
BUILTIN_PALETTES = ("realistic", "dark", "bright", "denim", "pastel", "shoes",
                    # colour names of the Market-1501 / DukeMTMC attribute annotations (see palettes.py)
                    "black", "white", "gray", "blue", "red", "green", "yellow", "purple", "brown", "pink")
BUILTIN_HAIR_PALETTES = ("natural", "dark", "dyed")
ETHNICITIES = ("african", "asian", "caucasian")
POSE_SOURCES = ("walk", "procedural_walk", "standing", "bvh")
BACKGROUND_KINDS = ("fixed", "varied", "cubemap", "equirectangular")
STRUCTURE_KINDS = ("wall", "pillar", "railing", "bench")
LIGHT_KINDS = ("sun", "area")
ENGINES = ("cycles", "eevee")
DEVICES = ("cpu", "gpu")
DENOISERS = ("oidn", "none")
DENOISER_PREFILTERS = ("fast", "accurate", "none")
DISTRIBUTIONS = ("uniform", "normal")
CAMERA_ID_MODES = ("azimuth", "elevation", "azimuth_elevation")


class SpecError(ValueError):
    """An invalid spec. `problems` holds one ``(field, message)`` pair per problem."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"invalid dataset spec{where}:"] + [f"  {f}: {m}" for f, m in problems]
        super().__init__("\n".join(lines))


@dataclass
class Range:
    """A continuous value drawn between `low` and `high`.

    `uniform` draws evenly; `normal` draws from a normal distribution centred in the range
    with σ = (high − low) / 4, truncated to the range (realistic crowds cluster near the
    middle). In TOML either ``[low, high]`` or ``{low = .., high = .., distribution = ..}``.
    """

    low: float
    high: float
    distribution: str = "uniform"


@dataclass
class DatasetSection:
    name: str = "synthetic"
    seed: int = 0
    characters: int = 1500
    images_per_character: int = 10
    test_characters: int = 100
    validation_characters: int = 100
    camera_id_mode: str = "azimuth"  # how the Market-1501 camera id is derived from the viewpoint
    camera_id_bins: int = 6  # number of azimuth (and/or elevation) bins → camera ids 1..N


@dataclass
class CharacterSection:
    age_years: Range = field(default_factory=lambda: Range(18.0, 70.0))
    male_fraction: float = 0.5
    gender_strength: Range = field(default_factory=lambda: Range(0.8, 1.0))  # 1 = fully male/female
    weight: Range = field(default_factory=lambda: Range(0.3, 0.8, "normal"))
    muscle: Range = field(default_factory=lambda: Range(0.3, 0.7, "normal"))
    height: Range = field(default_factory=lambda: Range(0.3, 0.7, "normal"))  # 0.5 ≈ 1.73 m men, 1.59 m women
    proportions: Range = field(default_factory=lambda: Range(0.3, 0.7))
    # Dirichlet concentrations of the ethnicity mix (drives skin tone and face shape).
    ethnicity: dict[str, float] = field(default_factory=lambda: {"african": 1.0, "asian": 1.0, "caucasian": 1.0})


@dataclass
class PoseSection:
    sources: dict[str, float] = field(
        default_factory=lambda: {"walk": 0.4, "procedural_walk": 0.4, "standing": 0.2}
    )
    bvh_files: list[str] = field(default_factory=list)
    stride: Range = field(default_factory=lambda: Range(0.8, 1.2))  # procedural walk: stride scale
    arm_swing: Range = field(default_factory=lambda: Range(0.5, 1.3))  # procedural walk: arm swing scale


@dataclass
class ClothingSection:
    tops: dict[str, float] = field(default_factory=lambda: {"tshirt": 0.5, "longsleeve": 0.4, "jacket": 0.1})
    bottoms: dict[str, float] = field(default_factory=lambda: {"trousers": 0.7, "shorts": 0.15, "skirt": 0.15})
    # Bottoms of men (gender > 0.5); empty = the same as `bottoms`.
    male_bottoms: dict[str, float] = field(default_factory=lambda: {"trousers": 0.8, "shorts": 0.2})
    shoes: dict[str, float] = field(default_factory=lambda: {"shoes": 0.8, "boots": 0.2})
    palettes: dict[str, float] = field(default_factory=lambda: {"realistic": 0.6, "dark": 0.3, "bright": 0.1})
    textures: dict[str, float] = field(default_factory=lambda: {"solid": 0.7, "stripes": 0.1, "checks": 0.1, "denim": 0.1})
    # Per garment role; empty = `palettes` / `textures`. Real crowds wear patterns on tops,
    # while trousers and skirts are overwhelmingly plain (or jeans).
    top_palettes: dict[str, float] = field(default_factory=dict)
    bottom_palettes: dict[str, float] = field(default_factory=dict)
    top_textures: dict[str, float] = field(default_factory=dict)
    bottom_textures: dict[str, float] = field(default_factory=dict)
    texture_scale: Range = field(default_factory=lambda: Range(0.5, 2.0))
    # Probability that trousers/shorts are jeans (denim palette and texture): jeans dominate real crowds.
    jeans: float = 0.3
    shoe_palettes: dict[str, float] = field(default_factory=lambda: {"shoes": 1.0})
    # Extra palettes by name: {name = ["#rrggbb", ...]}; usable in `palettes` and `hair.palettes`.
    custom_palettes: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class HairSection:
    # Probabilities of each style; the remainder is "no visible hair" (bald or very short).
    styles: dict[str, float] = field(
        default_factory=lambda: {"short": 0.2, "medium": 0.25, "long": 0.35, "ponytail": 0.13, "bun": 0.07}
    )
    # Styles of men (gender > 0.5); empty = the same as `styles`. Mostly short, some bald.
    male_styles: dict[str, float] = field(default_factory=lambda: {"short": 0.78, "medium": 0.1, "long": 0.04})
    palettes: dict[str, float] = field(default_factory=lambda: {"natural": 0.8, "dark": 0.2})
    # Thickness of the hair over the scalp and of long hair's mass (1 = the sleek default;
    # real hair has volume), and how unevenly long hair ends (locks of ± this × 10 cm).
    volume: Range = field(default_factory=lambda: Range(1.0, 1.0))
    ragged: Range = field(default_factory=lambda: Range(0.0, 0.0))


@dataclass
class AccessoriesSection:
    # Independent probabilities of carrying/wearing each accessory.
    backpack: float = 0.2
    shoulder_bag: float = 0.15
    cap: float = 0.08
    hat: float = 0.04
    glasses: float = 0.15
    palettes: dict[str, float] = field(default_factory=lambda: {"dark": 0.7, "realistic": 0.3})


@dataclass
class BackgroundSection:
    kind: str = "varied"
    colors: list[str] = field(default_factory=lambda: ["#7f7f7f"])  # `fixed`: one of these per character
    value: Range = field(default_factory=lambda: Range(0.15, 0.85))  # `varied`: HSV value of each wall
    saturation: Range = field(default_factory=lambda: Range(0.0, 0.35))  # `varied`: HSV saturation
    # `cubemap`: folders with posx/negx/posy/negy/posz/negz images, or "builtin:<name>".
    cubemaps: list[str] = field(default_factory=lambda: ["builtin:all"])
    equirectangular: list[str] = field(default_factory=list)  # `equirectangular`: image files
    room_size: Range = field(default_factory=lambda: Range(14.0, 20.0))  # metres, side of the cuboid (> 2R)
    # Structures around the person (real crops show walls, railings, pillars, benches): the
    # expected number of each kind per character (0.5 = one in every other character, 2 = two).
    structures: dict[str, float] = field(default_factory=dict)
    structure_distance: Range = field(default_factory=lambda: Range(1.2, 4.0))  # metres from the person


@dataclass
class CameraSection:
    radius: float = 6.0  # R, metres from the character's mid-height point
    theta1_deg: float = 50.0  # upper edge of the segment (polar angle from the zenith)
    theta2_deg: float = 85.0  # lower edge
    focal_length_mm: float = 50.0
    sensor_width_mm: float = 36.0
    aim_jitter_deg: float = 2.0  # small random error of the aim at the body
    radius_jitter: float = 0.0  # relative jitter of R (0.1 = ±10 %)


@dataclass
class LightingSection:
    kinds: dict[str, float] = field(default_factory=lambda: {"sun": 0.5, "area": 0.5})
    strength: Range = field(default_factory=lambda: Range(2.0, 5.0))  # sun W/m²; area lights scale from it
    color_temperature_k: Range = field(default_factory=lambda: Range(3500.0, 7500.0))
    elevation_deg: Range = field(default_factory=lambda: Range(30.0, 80.0))
    world_strength: Range = field(default_factory=lambda: Range(0.3, 1.0))


@dataclass
class BoxSection:
    """Detector-like person boxes: how the crop's box differs from the tight box around the
    person (plus `render.margin`). All zero/one = the tight, centred box. The render border
    is this box, so the image, the mask and the keypoints all follow it."""

    scale: Range = field(default_factory=lambda: Range(1.0, 1.0))  # box size × this (both sides)
    aspect: Range = field(default_factory=lambda: Range(1.0, 1.0))  # box width × this
    shift_x: Range = field(default_factory=lambda: Range(0.0, 0.0))  # centre shift, fraction of box width
    shift_y: Range = field(default_factory=lambda: Range(0.0, 0.0))  # centre shift, fraction of box height (+ = down)
    truncate_head: float = 0.0  # probability that the top of the box cuts into the head
    truncate_feet: float = 0.0  # probability that the bottom of the box cuts off the feet
    truncate_fraction: Range = field(default_factory=lambda: Range(0.04, 0.15))  # of the person's height cut off
    # Height/width of every output crop (CUHK03 labeled: 3.4); 0 = the width follows the box.
    output_aspect: float = 0.0


@dataclass
class RenderSection:
    engine: str = "cycles"
    device: str = "cpu"
    samples: int = 4
    max_bounces: int = 1
    adaptive_threshold: float = 0.1
    denoiser: str = "oidn"
    denoiser_prefilter: str = "fast"
    crop_height: int = 256  # output height in pixels; width follows the person's aspect ratio
    margin: float = 0.04  # relative margin around the projected bounding box
    threads: int = 0  # 0 = all cores


@dataclass
class PostprocessSection:
    """Camera-model degradations applied to each rendered crop."""

    noise_std: Range = field(default_factory=lambda: Range(0.0, 0.02))  # Gaussian sensor noise, [0,1] scale
    blur_sigma: Range = field(default_factory=lambda: Range(0.0, 0.8))  # Gaussian blur, pixels
    jpeg_quality: Range = field(default_factory=lambda: Range(75.0, 95.0))
    downscale: Range = field(default_factory=lambda: Range(1.0, 1.5))  # down by this factor, then back up
    color_cast: Range = field(default_factory=lambda: Range(0.0, 0.04))  # per-channel gain spread
    exposure: Range = field(default_factory=lambda: Range(1.0, 1.0))  # brightness gain (a camera's auto-exposure)
    contrast: Range = field(default_factory=lambda: Range(1.0, 1.0))  # contrast around the image's mean (> 1 = harder)


@dataclass
class Spec:
    dataset: DatasetSection = field(default_factory=DatasetSection)
    character: CharacterSection = field(default_factory=CharacterSection)
    pose: PoseSection = field(default_factory=PoseSection)
    clothing: ClothingSection = field(default_factory=ClothingSection)
    hair: HairSection = field(default_factory=HairSection)
    accessories: AccessoriesSection = field(default_factory=AccessoriesSection)
    background: BackgroundSection = field(default_factory=BackgroundSection)
    camera: CameraSection = field(default_factory=CameraSection)
    box: BoxSection = field(default_factory=BoxSection)
    lighting: LightingSection = field(default_factory=LightingSection)
    render: RenderSection = field(default_factory=RenderSection)
    postprocess: PostprocessSection = field(default_factory=PostprocessSection)
    version: int = SPEC_VERSION
    # Folder that relative paths (cubemaps, BVH files, images) are resolved against.
    base_dir: str = ""

    @property
    def total_images(self) -> int:
        return self.dataset.characters * self.dataset.images_per_character

    def resolve_path(self, path: str) -> Path:
        p = Path(path).expanduser()
        if not p.is_absolute() and self.base_dir:
            p = Path(self.base_dir) / p
        return p


# ---------------------------------------------------------------------------------------
# dict <-> dataclass


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """Plain JSON/TOML-ready dict (ranges as {low, high, distribution})."""
    return dataclasses.asdict(spec)


def _convert(value: Any, typ: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    origin = getattr(typ, "__origin__", None)
    if typ is Range:
        if isinstance(value, Range):
            return value
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value):
            return Range(float(value[0]), float(value[1]))
        if isinstance(value, dict):
            unknown = set(value) - {"low", "high", "distribution"}
            if unknown or not {"low", "high"} <= set(value):
                problems.append((path, "expected {low = .., high = .., distribution = ..} or [low, high]"))
                return None
            if not (_is_number(value["low"]) and _is_number(value["high"])):
                problems.append((path, "low and high must be numbers"))
                return None
            return Range(float(value["low"]), float(value["high"]), str(value.get("distribution", "uniform")))
        if _is_number(value):  # a constant
            return Range(float(value), float(value))
        problems.append((path, f"expected a range [low, high], got {value!r}"))
        return None
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            problems.append((path, f"expected a table, got {type(value).__name__}"))
            return None
        return _from_dict(typ, value, path, problems)
    if typ is float:
        if not _is_number(value):
            problems.append((path, f"expected a number, got {value!r}"))
            return None
        return float(value)
    if typ is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            problems.append((path, f"expected a whole number, got {value!r}"))
            return None
        return int(value)
    if typ is str:
        if not isinstance(value, str):
            problems.append((path, f"expected a string, got {value!r}"))
            return None
        return value
    if origin is list:
        (item_t,) = typ.__args__
        if not isinstance(value, (list, tuple)):
            problems.append((path, f"expected a list, got {value!r}"))
            return None
        return [_convert(v, item_t, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        _, val_t = typ.__args__
        if not isinstance(value, dict):
            problems.append((path, f"expected a table {{name = value}}, got {value!r}"))
            return None
        return {str(k): _convert(v, val_t, f"{path}.{k}", problems) for k, v in value.items()}
    raise TypeError(f"unsupported spec field type {typ!r} at {path}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _from_dict(cls: type, data: dict[str, Any], prefix: str, problems: list[tuple[str, str]]):
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in names:
            problems.append((path, f"unknown field (known: {', '.join(sorted(names))})"))
            continue
        converted = _convert(value, hints[key], path, problems)
        if converted is not None:
            kwargs[key] = converted
    return cls(**kwargs)


def spec_from_dict(data: dict[str, Any], source: str | None = None, validate: bool = True) -> Spec:
    """Build a Spec from a plain dict (TOML or JSON). Raises SpecError naming each bad field."""
    problems: list[tuple[str, str]] = []
    spec = _from_dict(Spec, data, "", problems)
    if problems:
        raise SpecError(problems, source)
    if validate:
        check = validate_spec(spec)
        if check:
            raise SpecError(check, source)
    return spec


def load_spec(path: str | Path, validate: bool = True) -> Spec:
    """Read a spec TOML file. Relative paths inside it resolve against the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([("file", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([("file", f"not valid TOML: {exc}")], str(path)) from None
    data.setdefault("base_dir", str(path.resolve().parent))
    return spec_from_dict(data, source=str(path), validate=validate)


def save_spec(spec: Spec, path: str | Path) -> None:
    Path(path).write_text(dumps_toml(spec_to_dict(spec), skip={"base_dir"}), encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Writing TOML: tomli-w (pure Python; bundled as a wheel in the Blender extension), so any
# key or string a user types (a palette named "grün", quotes, newlines) loads back.


def _compact(value: Any) -> Any:
    """Uniform ranges as ``[low, high]`` pairs, the way people write them."""
    if isinstance(value, dict):
        if set(value) == {"low", "high", "distribution"} and value["distribution"] == "uniform":
            return [value["low"], value["high"]]
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_compact(v) for v in value]
    return value


def dumps_toml(data: dict[str, Any], skip: set[str] = frozenset()) -> str:
    """TOML text of a spec dict (or any dict of TOML-able values) that `tomllib` reads back equal."""
    import tomli_w

    return tomli_w.dumps({k: _compact(v) for k, v in data.items() if k not in skip})


# ---------------------------------------------------------------------------------------
# Validation


def _check_range(problems, path, r: Range, lo: float | None = None, hi: float | None = None):
    if r.distribution not in DISTRIBUTIONS:
        problems.append((path, f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {r.distribution!r}"))
    if not (math.isfinite(r.low) and math.isfinite(r.high)):
        problems.append((path, "low and high must be finite numbers"))
        return
    if r.low > r.high:
        problems.append((path, f"low ({r.low}) must not exceed high ({r.high})"))
    if lo is not None and r.low < lo or hi is not None and r.high > hi:
        problems.append((path, f"must lie within [{lo}, {hi}], got [{r.low}, {r.high}]"))


def _check_weights(problems, path, weights: dict[str, float], known: tuple[str, ...] | None,
                   probabilities: bool, allow_empty: bool = False):
    for k, w in weights.items():
        if known is not None and k not in known:
            problems.append((f"{path}.{k}", f"unknown name (known: {', '.join(known)})"))
        if not math.isfinite(w) or w < 0:
            problems.append((f"{path}.{k}", f"weight must be a number ≥ 0, got {w}"))
        elif probabilities and w > 1:
            problems.append((f"{path}.{k}", f"probability must lie within [0, 1], got {w}"))
    total = sum(w for w in weights.values() if math.isfinite(w) and w >= 0)
    if probabilities and total > 1 + 1e-9:
        problems.append((path, f"probabilities sum to {total:.3f}; they must sum to at most 1 (the rest means none)"))
    if not probabilities and total <= 0 and not (allow_empty and not weights):
        problems.append((path, "needs at least one choice with a weight > 0"))


def _check_choice(problems, path, value: str, allowed: tuple[str, ...]):
    if value not in allowed:
        problems.append((path, f"must be one of {', '.join(allowed)}, got {value!r}"))


def _check_color(problems, path, c: str):
    s = c[1:] if c.startswith("#") else c
    if len(s) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in s):
        problems.append((path, f"expected a colour '#rrggbb', got {c!r}"))


def _check_probability(problems, path, p: float):
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


def validate_spec(spec: Spec, check_files: bool = True) -> list[tuple[str, str]]:
    """All problems of a spec as (field, message); an empty list means valid."""
    p: list[tuple[str, str]] = []
    d = spec.dataset
    if spec.version != SPEC_VERSION:
        p.append(("version", f"unsupported spec version {spec.version} (this generator reads {SPEC_VERSION})"))
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

    c = spec.character
    _check_range(p, "character.age_years", c.age_years, 1.0, 90.0)
    _check_probability(p, "character.male_fraction", c.male_fraction)
    _check_range(p, "character.gender_strength", c.gender_strength, 0.5, 1.0)
    for name in ("weight", "muscle", "height", "proportions"):
        _check_range(p, f"character.{name}", getattr(c, name), 0.0, 1.0)
    _check_weights(p, "character.ethnicity", c.ethnicity, ETHNICITIES, probabilities=False)

    po = spec.pose
    _check_weights(p, "pose.sources", po.sources, POSE_SOURCES, probabilities=False)
    _check_range(p, "pose.stride", po.stride, 0.0, 2.0)
    _check_range(p, "pose.arm_swing", po.arm_swing, 0.0, 3.0)
    if po.sources.get("bvh", 0) > 0 and not po.bvh_files:
        p.append(("pose.bvh_files", "pose.sources.bvh > 0 needs at least one BVH file"))
    for i, f in enumerate(po.bvh_files):
        if check_files and (why := check_bvh_file(spec.resolve_path(f))) is not None:
            p.append((f"pose.bvh_files[{i}]", why))

    cl = spec.clothing
    palettes = set(BUILTIN_PALETTES) | set(cl.custom_palettes)
    _check_weights(p, "clothing.tops", cl.tops, TOP_KINDS, probabilities=True)
    _check_weights(p, "clothing.bottoms", cl.bottoms, BOTTOM_KINDS, probabilities=True)
    _check_weights(p, "clothing.male_bottoms", cl.male_bottoms, BOTTOM_KINDS, probabilities=True)
    _check_weights(p, "clothing.shoes", cl.shoes, SHOE_KINDS, probabilities=True)
    _check_weights(p, "clothing.palettes", cl.palettes, tuple(sorted(palettes)), probabilities=False)
    _check_weights(p, "clothing.textures", cl.textures, TEXTURE_KINDS, probabilities=False)
    for role in ("top", "bottom"):  # empty = the shared table
        _check_weights(p, f"clothing.{role}_palettes", getattr(cl, f"{role}_palettes"), tuple(sorted(palettes)),
                       probabilities=False, allow_empty=True)
        _check_weights(p, f"clothing.{role}_textures", getattr(cl, f"{role}_textures"), TEXTURE_KINDS,
                       probabilities=False, allow_empty=True)
    _check_range(p, "clothing.texture_scale", cl.texture_scale, 0.05, 20.0)
    _check_probability(p, "clothing.jeans", cl.jeans)
    _check_weights(p, "clothing.shoe_palettes", cl.shoe_palettes, tuple(sorted(palettes)), probabilities=False)
    for name, colors in cl.custom_palettes.items():
        if not colors:
            p.append((f"clothing.custom_palettes.{name}", "palette is empty: give at least one '#rrggbb' colour"))
        for i, col in enumerate(colors):
            _check_color(p, f"clothing.custom_palettes.{name}[{i}]", col)

    h = spec.hair
    _check_range(p, "hair.volume", h.volume, 0.5, 3.0)
    _check_range(p, "hair.ragged", h.ragged, 0.0, 1.0)
    _check_weights(p, "hair.styles", h.styles, HAIR_STYLES, probabilities=True)
    _check_weights(p, "hair.male_styles", h.male_styles, HAIR_STYLES, probabilities=True)
    _check_weights(p, "hair.palettes", h.palettes, tuple(sorted(set(BUILTIN_HAIR_PALETTES) | set(cl.custom_palettes))),
                   probabilities=False)

    a = spec.accessories
    for name in ACCESSORY_KINDS:
        _check_probability(p, f"accessories.{name}", getattr(a, name))
    _check_weights(p, "accessories.palettes", a.palettes, tuple(sorted(palettes)), probabilities=False)

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
                from .cubemaps import BUILTIN_CUBEMAPS

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

    cam = spec.camera
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
    if cam.radius * (1 + cam.radius_jitter) > b.room_size.low / 2 and b.kind in ("fixed", "varied", "cubemap"):
        p.append(("camera.radius",
                  f"cameras up to {cam.radius * (1 + cam.radius_jitter):.2f} m away do not fit in a room of "
                  f"{b.room_size.low} m (background.room_size.low must exceed 2·R)"))

    bx = spec.box
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

    li = spec.lighting
    _check_weights(p, "lighting.kinds", li.kinds, LIGHT_KINDS, probabilities=False)
    _check_range(p, "lighting.strength", li.strength, 0.0, 1000.0)
    _check_range(p, "lighting.color_temperature_k", li.color_temperature_k, 1000.0, 20000.0)
    _check_range(p, "lighting.elevation_deg", li.elevation_deg, 0.0, 90.0)
    _check_range(p, "lighting.world_strength", li.world_strength, 0.0, 100.0)

    r = spec.render
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

    pp = spec.postprocess
    _check_range(p, "postprocess.noise_std", pp.noise_std, 0.0, 0.5)
    _check_range(p, "postprocess.blur_sigma", pp.blur_sigma, 0.0, 10.0)
    _check_range(p, "postprocess.jpeg_quality", pp.jpeg_quality, 1.0, 100.0)
    _check_range(p, "postprocess.downscale", pp.downscale, 1.0, 8.0)
    _check_range(p, "postprocess.color_cast", pp.color_cast, 0.0, 0.5)
    _check_range(p, "postprocess.exposure", pp.exposure, 0.1, 10.0)
    _check_range(p, "postprocess.contrast", pp.contrast, 0.1, 5.0)
    return p
