"""The dataset spec: one typed object that says what dataset to generate, and the catalogues
of names it may use.

This module is the model only. Its neighbours:

* `spec_io`: reading and writing it (TOML files `load_spec` / `save_spec`, plain JSON-ready
  dicts `spec_to_dict` / `spec_from_dict` for the farm's workers) and its identity hash
  (`spec_fingerprint`).
* `spec_validation`: `validate_spec`, which names every bad field with its allowed range.

Nothing here imports `bpy`.

Conventions used throughout the project:

* Body attributes other than age are MakeHuman macro values in [0, 1] (0.5 = average).
  Age is given in years (MakeHuman maps 1..90 years onto its age macro).
* The camera lies on a segment of a hemisphere of radius R around the character.
  θ is the polar angle measured from the zenith: θ = 0° looks straight down, θ = 90° is
  at the character's mid-height. A valid segment has 0 ≤ θ1 < θ2 ≤ 90°.
* Probabilities are given as ``{choice = weight}`` tables. For garment slots the weights
  are probabilities: when they sum to less than 1 the rest is the chance of "none".

Image suffixes and cubemap face names are not spec vocabulary but image-file facts: they
live in `image_files`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .typed_options import ProblemsError

SPEC_VERSION = 1

# Catalogues: the names the generator knows how to build. Unknown names are refused.
TOP_KINDS = ("tshirt", "longsleeve", "jacket")
BOTTOM_KINDS = ("trousers", "shorts", "skirt")
SHOE_KINDS = ("shoes", "boots")
HAIR_STYLES = ("short", "medium", "long", "ponytail", "bun")
ACCESSORY_KINDS = ("backpack", "shoulder_bag", "cap", "hat", "glasses")  # also the order sampling draws them in
TEXTURE_KINDS = ("solid", "stripes", "checks", "plaid", "dots", "noise", "camouflage", "denim", "knit")
BUILTIN_PALETTES = ("realistic", "dark", "bright", "denim", "pastel", "shoes",
                    # colour names of the Market-1501 / DukeMTMC attribute annotations (see palettes.py)
                    "black", "white", "gray", "blue", "red", "green", "yellow", "purple", "brown", "pink")
BUILTIN_HAIR_PALETTES = ("natural", "dark", "dyed")
ETHNICITIES = ("african", "asian", "caucasian")
POSE_SOURCES = ("walk", "procedural_walk", "standing", "bvh")
BACKGROUND_KINDS = ("fixed", "varied", "cubemap", "equirectangular")
STRUCTURE_KINDS = ("wall", "pillar", "railing", "bench", "stairs", "doorway")
LIGHT_KINDS = ("sun", "area")
ENGINES = ("cycles", "eevee")
DEVICES = ("cpu", "gpu")
DENOISERS = ("oidn", "none")
DENOISER_PREFILTERS = ("fast", "accurate", "none")
DISTRIBUTIONS = ("uniform", "normal")
CAMERA_ID_MODES = ("azimuth", "elevation", "azimuth_elevation")


class SpecError(ProblemsError):
    """An invalid spec. `problems` holds one ``(field, message)`` pair per problem."""

    what = "dataset spec"


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
    # Draw the room (environment, its rotation, structures) anew for every image instead of once
    # per character. A real camera's background is shared by everyone who passes it; one room
    # per character makes the background a cue to the identity that real crops never give.
    per_image: bool = False
    # Other people (real crops show neighbours and their bags): the expected number per
    # character of passers-by behind the person, and of people partly in front of it. Each is
    # a whole character, placed anew in every image. Never in the mask.
    passers_by: float = 0.0
    occluders: float = 0.0
    passer_by_distance: Range = field(default_factory=lambda: Range(1.5, 6.0))  # metres behind the person
    # They come from a pool of this many distinct people per dataset: a worker builds each at
    # most once and reuses it (a build costs twice a character's own setup).
    people_pool: int = 32


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
