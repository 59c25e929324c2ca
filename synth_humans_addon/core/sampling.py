"""Deterministic expansion: spec + seed → the exact samples of every character and image.

Every character draws from its own random stream, ``SeedSequence(seed, spawn_key=(index, 0))``,
every image from ``(index, 1, k)``, the places of the other people around it from
``(index, 3)`` and the looks of the dataset's pool of other people from ``(2**31 − 2, p)``. So a character's samples depend only on the spec,
the seed and the character's index: not on worker count, job order or machine, and adding
images to a character does not change the ones it already has. The samples are plain
dataclasses that round-trip through JSON exactly (floats are written with `repr`), so the
farm stores them and any image can be re-rendered bit-for-bit later.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import geometry, palettes
from .dataset import SUBSET_GALLERY, SUBSET_QUERY, SUBSET_TRAIN, SUBSET_VALIDATION, query_flags
from .spec import ACCESSORY_KINDS, ETHNICITIES, Range, Spec

# Stream ids inside one dataset seed.
_CHARACTER_STREAM = 0
_IMAGE_STREAM = 1
_OTHER_PEOPLE_STREAM = 3  # (index, 3): the other people around character `index`
_IMAGE_BACKGROUND_STREAM = 4  # (index, 4, k): image k's own room, with `background.per_image`
_PEOPLE_POOL_KEY = 2**31 - 2  # (key, p): looks and pose of the dataset's other person p
_SPLIT_KEY = 2**31 - 1  # a spawn key no character index reaches

SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST = "train", "validation", "test"


@dataclass
class BodySample:
    age_years: float
    gender: float  # MakeHuman gender macro: 0 female … 1 male
    weight: float
    muscle: float
    height: float
    proportions: float
    ethnicity: dict[str, float]  # sums to 1
    skin_variation: float  # −1 … 1, see palettes.skin_color
    skin_color: str  # sRGB hex, derived from the three above


@dataclass
class GarmentSample:
    kind: str
    palette: str
    color: str  # sRGB hex
    texture: str
    secondary_color: str  # second colour of patterned textures
    texture_scale: float
    texture_rotation_deg: float
    seed: int  # for procedural noise in the material


@dataclass
class HairSample:
    style: str
    palette: str
    color: str
    length: float = 0.5  # 0 … 1: where this person's hair lies within its style's length range
    volume: float = 1.0  # thickness multiplier (spec hair.volume)
    ragged: float = 0.0  # unevenness of long hair's ends (spec hair.ragged)


@dataclass
class AccessorySample:
    kind: str
    palette: str
    color: str


@dataclass
class StructureSample:
    """A wall, pillar, railing or bench near the person, in the *view frame* of each image:
    the person at the origin, +x away from the camera (behind the person), +y to the side.
    Each image places it anew around its camera (`shapes/structures.place`), so what was
    sampled "behind the person" stays behind the person in every view."""

    kind: str
    x: float
    y: float
    rotation_deg: float  # about Z in the view frame; 90 = the long side faces the camera
    width: float
    height: float
    depth: float
    color: str


@dataclass
class BackgroundSample:
    kind: str
    # `fixed` / `varied`: wall colours in the order +X, −X, +Y, −Y, floor, ceiling.
    colors: list[str] = field(default_factory=list)
    source: str = ""  # `cubemap`: folder or builtin:<name>; `equirectangular`: image path
    rotation_deg: float = 0.0  # rotation of the environment about Z
    room_size: float = 10.0
    structures: list[StructureSample] = field(default_factory=list)


@dataclass
class PoseSample:
    source: str  # walk | procedural_walk | standing | bvh
    bvh_file: str = ""
    stride: float = 1.0
    arm_swing: float = 1.0
    variant: int = 0  # standing pose variant


@dataclass
class CameraSample:
    azimuth_deg: float  # 0 = in front of the character
    theta_deg: float  # polar angle from the zenith
    radius: float
    yaw_jitter_deg: float
    pitch_jitter_deg: float
    focal_length_mm: float
    sensor_width_mm: float


@dataclass
class LightSample:
    kind: str
    strength: float
    color_temperature_k: float
    azimuth_deg: float
    elevation_deg: float
    world_strength: float


@dataclass
class PostprocessSample:
    noise_std: float
    blur_sigma: float
    jpeg_quality: int
    downscale: float
    color_gain: list[float]  # per-channel gains (R, G, B)
    seed: int
    exposure: float = 1.0  # brightness gain
    contrast: float = 1.0  # contrast around the image's mean


@dataclass
class BoxSample:
    """How this image's crop box differs from the tight person box (see `spec.BoxSection`)."""

    scale: float = 1.0
    aspect: float = 1.0
    shift_x: float = 0.0  # fraction of the box width
    shift_y: float = 0.0  # fraction of the box height, + = down
    cut_top: float = 0.0  # fraction of the person's height cut off at the top (head)
    cut_bottom: float = 0.0  # … at the bottom (feet)
    output_aspect: float = 0.0  # height/width of the crop; 0 = follow the box


@dataclass
class ImageSample:
    k: int  # index of the image within its character
    subset: str  # bounding_box_train | bounding_box_test | query | validation
    camera_id: int
    camera: CameraSample
    pose_phase: float  # 0 … 1: the frame of the walk cycle / motion clip
    light: LightSample
    postprocess: PostprocessSample
    seed: int
    box: BoxSample = field(default_factory=BoxSample)  # absent in samples stored before boxes existed
    # The image's own room (`background.per_image`); None: the character's room.
    background: BackgroundSample | None = None


@dataclass
class PersonPlacement:
    """Where another person stands in one image, in that image's view frame (see
    `StructureSample`: x away from the camera, y to the side), turned `rotation_deg` about Z,
    as a passer-by (behind the person) or an occluder (partly in front of it)."""

    role: str  # passer_by | occluder
    x: float
    y: float
    rotation_deg: float


@dataclass
class OtherPersonSample:
    """Someone else in some of the target's images. It has a character's looks and pose (the
    Blender builder reads the same fields as for the target), posed once at `pose_phase`
    (re-posing per image costs render time), and per image a placement or None (not in that
    image). It is never part of the mask. Looks and pose are those of person `pool_index` of
    the dataset's pool (`background.people_pool`): the same index is the same person
    everywhere, so a worker builds it once."""

    pool_index: int
    pid: int  # the target's pid (objects are named after it)
    body: BodySample
    top: GarmentSample | None
    bottom: GarmentSample | None
    shoes: GarmentSample | None
    hair: HairSample | None
    accessories: list[AccessorySample]
    pose: PoseSample
    pose_phase: float
    placements: list[PersonPlacement | None]  # one per image, in image order; None = absent


@dataclass
class CharacterSample:
    index: int  # 0-based position in the dataset
    pid: int  # person id in file names (index + 1; 0 is Market-1501's distractor id)
    split: str  # train | validation | test
    seed: int
    body: BodySample
    top: GarmentSample | None
    bottom: GarmentSample | None
    shoes: GarmentSample | None
    hair: HairSample | None
    accessories: list[AccessorySample]
    background: BackgroundSample
    pose: PoseSample
    images: list[ImageSample]
    others: list[OtherPersonSample] = field(default_factory=list)  # other people in its images

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CharacterSample":
        return _build(cls, d)


@functools.lru_cache(maxsize=None)
def _field_types(cls) -> tuple[tuple[str, Any], ...]:
    import typing

    hints = typing.get_type_hints(cls)  # slow (~ms): resolved once per class
    return tuple((f.name, hints[f.name], f.default is not dataclasses.MISSING) for f in dataclasses.fields(cls))


def _build(cls, d):
    """Inverse of dataclasses.asdict for the sample types above.

    Fields added later with a default may be missing from older stored samples."""
    return cls(**{name: _build_value(t, d[name]) for name, t, has_default in _field_types(cls)
                  if name in d or not has_default})


def _build_value(t, v):
    import types
    import typing

    if v is None:
        return None
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(t) if a is not type(None)]
        return _build_value(inner, v)
    if origin is list:
        (inner,) = typing.get_args(t)
        return [_build_value(inner, x) for x in v]
    if dataclasses.is_dataclass(t):
        return _build(t, v)
    return v


# ---------------------------------------------------------------------------------------


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def draw_range(rng: np.random.Generator, r: Range) -> float:
    if r.low == r.high:
        return float(r.low)
    if r.distribution == "normal":
        mu, sigma = (r.low + r.high) / 2.0, (r.high - r.low) / 4.0
        for _ in range(64):  # truncated normal by rejection (≈95 % accept per draw)
            v = rng.normal(mu, sigma)
            if r.low <= v <= r.high:
                return float(v)
        return float(mu)
    return float(rng.uniform(r.low, r.high))


def choose(rng: np.random.Generator, weights: dict[str, float], allow_none: bool = False) -> str | None:
    """Pick a key by weight. With `allow_none`, weights are probabilities and the rest is None."""
    names = [k for k, w in weights.items() if w > 0]
    w = np.array([weights[k] for k in names], float)
    u = rng.random()
    if allow_none:
        acc = np.cumsum(w)
        idx = int(np.searchsorted(acc, u, side="right"))
        return names[idx] if idx < len(names) else None
    if w.sum() <= 0:
        raise ValueError("no choice has a positive weight")
    idx = int(np.searchsorted(np.cumsum(w / w.sum()), u, side="right"))
    return names[min(idx, len(names) - 1)]


def _pick_color(rng, spec: Spec, palette_weights: dict[str, float], hair: bool = False) -> tuple[str, str]:
    name = choose(rng, palette_weights)
    colors = palettes.palette_colors(name, spec.clothing.custom_palettes, hair=hair)
    base = colors[int(rng.integers(len(colors)))]
    # A small jitter so two people with the "same" navy jacket still differ slightly.
    jittered = palettes.jitter_color(base, float(rng.normal(0, 0.01)), float(rng.uniform(0.9, 1.1)),
                                     float(rng.uniform(0.9, 1.1)))
    return name, jittered


def _garment(rng, spec: Spec, kind: str | None, palettes_: dict[str, float] | None = None,
             jeans: bool = False, textures: dict[str, float] | None = None) -> GarmentSample | None:
    if kind is None:
        return None
    cl = spec.clothing
    weights = {"denim": 1.0} if jeans else (palettes_ or cl.palettes)
    palette, color = _pick_color(rng, spec, weights)
    _, secondary = _pick_color(rng, spec, weights)
    texture = choose(rng, textures or cl.textures)
    if jeans:
        texture = "denim"
    return GarmentSample(
        kind=kind, palette=palette, color=color, texture=texture, secondary_color=secondary,
        texture_scale=draw_range(rng, cl.texture_scale), texture_rotation_deg=float(rng.uniform(0, 180)),
        seed=int(rng.integers(2**31)),
    )


def assign_splits(spec: Spec) -> list[str]:
    """The split of every character: a seeded permutation picks test, then validation ones."""
    n = spec.dataset.characters
    order = _rng(spec.dataset.seed, _SPLIT_KEY).permutation(n)
    splits = [SPLIT_TRAIN] * n
    nt, nv = spec.dataset.test_characters, spec.dataset.validation_characters
    for i in order[:nt]:
        splits[int(i)] = SPLIT_TEST
    for i in order[nt:nt + nv]:
        splits[int(i)] = SPLIT_VALIDATION
    return splits


def _background(rng, spec: Spec) -> BackgroundSample:
    b = spec.background
    size = draw_range(rng, b.room_size)
    if b.kind == "fixed":
        c = b.colors[int(rng.integers(len(b.colors)))]
        return BackgroundSample("fixed", colors=[c] * 6, room_size=size)
    if b.kind == "varied":
        import colorsys

        hue = float(rng.random())  # one dominant hue per room, walls vary around it
        cols = []
        for _ in range(6):
            h = (hue + rng.normal(0, 0.08)) % 1.0
            rgb = colorsys.hsv_to_rgb(h, draw_range(rng, b.saturation), draw_range(rng, b.value))
            cols.append(palettes.srgb_to_hex(rgb))
        return BackgroundSample("varied", colors=cols, room_size=size)
    if b.kind == "cubemap":
        sources = expand_cubemap_sources(b.cubemaps)
        return BackgroundSample("cubemap", source=sources[int(rng.integers(len(sources)))],
                                rotation_deg=float(rng.uniform(0, 360)), room_size=size)
    return BackgroundSample("equirectangular", source=b.equirectangular[int(rng.integers(len(b.equirectangular)))],
                            rotation_deg=float(rng.uniform(0, 360)), room_size=size)


# Sizes (width, height, depth ranges, metres) and colours of the structures around a person.
_STRUCTURE_SIZES = {
    "wall": ((3.0, 7.0), (2.2, 3.5), (0.2, 0.3)),
    "pillar": ((0.35, 0.8), (2.8, 4.0), (0.35, 0.8)),
    "railing": ((1.5, 4.0), (0.9, 1.15), (0.05, 0.08)),
    "bench": ((1.2, 2.0), (0.42, 0.5), (0.4, 0.55)),
    "stairs": ((1.5, 3.5), (0.5, 1.5), (1.2, 3.0)),  # a flight of steps: rise (height) over run (depth)
    "doorway": ((2.2, 4.0), (2.5, 3.3), (0.2, 0.3)),  # a wall with a door-sized opening
}
_STRUCTURE_COLORS = ("#8d8a84", "#a6a29a", "#6f6c67", "#b8b2a6", "#7b5a46", "#945f4a", "#5d6166", "#c9c4b8",
                     "#3f4347", "#6b7a6e", "#d6d0c4", "#4d4a45")


def _structures(rng: np.random.Generator, spec: Spec) -> list[StructureSample]:
    """Structures of one character: `background.structures[kind]` is the expected count
    (whole part always, the fraction with that probability). Walls and doorways stand behind
    the person as the camera sees it (bearing ± 35°), the rest around behind (± 60°); a fifth of the
    railings stand in front (one sees the person through them)."""
    out = []
    for kind, expected in spec.background.structures.items():
        n = int(expected) + int(rng.random() < expected - int(expected))
        (w0, w1), (h0, h1), (d0, d1) = _STRUCTURE_SIZES[kind]
        for _ in range(n):
            spread = 35.0 if kind in ("wall", "doorway") else 60.0
            bearing = float(rng.normal(0.0, spread))
            if kind == "railing" and rng.random() < 0.2:
                bearing += 180.0
            dist = draw_range(rng, spec.background.structure_distance)
            w, h, d = float(rng.uniform(w0, w1)), float(rng.uniform(h0, h1)), float(rng.uniform(d0, d1))
            dist += d / 2  # the near face keeps the sampled distance
            a = math.radians(bearing)
            out.append(StructureSample(kind=kind, x=dist * math.cos(a), y=dist * math.sin(a),
                                       rotation_deg=bearing + 90.0 + float(rng.normal(0, 8)), width=w, height=h,
                                       depth=d, color=_STRUCTURE_COLORS[int(rng.integers(len(_STRUCTURE_COLORS)))]))
    return out


def expand_cubemap_sources(entries: list[str]) -> list[str]:
    """`builtin:all` stands for every built-in cubemap; other entries stay as they are."""
    from .cubemaps import BUILTIN_CUBEMAPS

    out: list[str] = []
    for e in entries:
        out.extend(f"builtin:{n}" for n in BUILTIN_CUBEMAPS) if e == "builtin:all" else out.append(e)
    return out


def _image(spec: Spec, index: int, k: int, split: str) -> ImageSample:
    rng = _rng(spec.dataset.seed, index, _IMAGE_STREAM, k)
    cam = spec.camera
    azimuth, theta = geometry.sample_segment_direction(float(rng.random()), float(rng.random()),
                                                       cam.theta1_deg, cam.theta2_deg)
    radius = cam.radius * (1.0 + float(rng.uniform(-cam.radius_jitter, cam.radius_jitter)))
    camera = CameraSample(
        azimuth_deg=azimuth, theta_deg=theta, radius=radius,
        yaw_jitter_deg=float(rng.uniform(-cam.aim_jitter_deg, cam.aim_jitter_deg)),
        pitch_jitter_deg=float(rng.uniform(-cam.aim_jitter_deg, cam.aim_jitter_deg)),
        focal_length_mm=cam.focal_length_mm, sensor_width_mm=cam.sensor_width_mm,
    )
    li = spec.lighting
    light = LightSample(
        kind=choose(rng, li.kinds), strength=draw_range(rng, li.strength),
        color_temperature_k=draw_range(rng, li.color_temperature_k), azimuth_deg=float(rng.uniform(0, 360)),
        elevation_deg=draw_range(rng, li.elevation_deg), world_strength=draw_range(rng, li.world_strength),
    )
    pp = spec.postprocess
    cast = draw_range(rng, pp.color_cast)
    post = PostprocessSample(
        noise_std=draw_range(rng, pp.noise_std), blur_sigma=draw_range(rng, pp.blur_sigma),
        jpeg_quality=int(round(draw_range(rng, pp.jpeg_quality))), downscale=draw_range(rng, pp.downscale),
        color_gain=[float(1.0 + rng.uniform(-cast, cast)) for _ in range(3)], seed=int(rng.integers(2**31)),
    )
    cid = geometry.camera_id(azimuth, theta, spec.dataset.camera_id_mode, spec.dataset.camera_id_bins,
                             cam.theta1_deg, cam.theta2_deg)
    subset = {SPLIT_TRAIN: SUBSET_TRAIN, SPLIT_VALIDATION: SUBSET_VALIDATION}.get(split, SUBSET_GALLERY)
    pose_phase, seed = float(rng.random()), int(rng.integers(2**31))
    # Drawn last, so the draws above (and every image of older specs) stay as they were.
    box = _box(rng, spec)
    post.exposure, post.contrast = draw_range(rng, pp.exposure), draw_range(rng, pp.contrast)
    return ImageSample(k=k, subset=subset, camera_id=cid, camera=camera, pose_phase=pose_phase,
                       light=light, postprocess=post, seed=seed, box=box)


def _box(rng: np.random.Generator, spec: Spec) -> BoxSample:
    b = spec.box
    cut_head, cut_feet = rng.random() < b.truncate_head, rng.random() < b.truncate_feet
    fractions = draw_range(rng, b.truncate_fraction), draw_range(rng, b.truncate_fraction)
    return BoxSample(
        scale=draw_range(rng, b.scale), aspect=draw_range(rng, b.aspect),
        shift_x=draw_range(rng, b.shift_x), shift_y=draw_range(rng, b.shift_y),
        cut_top=fractions[0] if cut_head else 0.0, cut_bottom=fractions[1] if cut_feet else 0.0,
        output_aspect=b.output_aspect,
    )


def _assign_queries(images: list[ImageSample]) -> None:
    """Test characters: the format's query rule (`dataset.query_flags`), images in index order."""
    for im, is_query in zip(images, query_flags([im.camera_id for im in images])):
        im.subset = SUBSET_QUERY if is_query else SUBSET_GALLERY


def _looks(rng: np.random.Generator, spec: Spec):
    """Body, top, bottom, shoes, hair and accessories of one person (the target or another)."""
    c = spec.character
    male = rng.random() < c.male_fraction
    strength = draw_range(rng, c.gender_strength)
    eth_names = [e for e in ETHNICITIES if c.ethnicity.get(e, 0) > 0]
    alpha = np.array([c.ethnicity[e] for e in eth_names])
    mix = rng.dirichlet(alpha) if len(eth_names) > 1 else np.ones(1)
    ethnicity = {e: 0.0 for e in ETHNICITIES}
    ethnicity.update({e: float(v) for e, v in zip(eth_names, mix)})
    age = draw_range(rng, c.age_years)
    variation = float(rng.uniform(-1, 1))
    body = BodySample(
        age_years=age, gender=strength if male else 1.0 - strength,
        weight=draw_range(rng, c.weight), muscle=draw_range(rng, c.muscle), height=draw_range(rng, c.height),
        proportions=draw_range(rng, c.proportions), ethnicity=ethnicity, skin_variation=variation,
        skin_color=palettes.skin_color(ethnicity, age, variation),
    )
    cl = spec.clothing
    # Empty per-role tables fall back to the shared ones with the same draws, so specs
    # without them expand exactly as before they existed.
    top = _garment(rng, spec, choose(rng, cl.tops, allow_none=True), palettes_=cl.top_palettes,
                   textures=cl.top_textures)
    bottom_kind = choose(rng, (cl.male_bottoms or cl.bottoms) if male else cl.bottoms, allow_none=True)
    jeans = rng.random() < cl.jeans and bottom_kind in ("trousers", "shorts")
    bottom = _garment(rng, spec, bottom_kind, palettes_=cl.bottom_palettes, jeans=jeans, textures=cl.bottom_textures)
    shoes = _garment(rng, spec, choose(rng, cl.shoes, allow_none=True), palettes_=cl.shoe_palettes)
    style = choose(rng, (spec.hair.male_styles or spec.hair.styles) if male else spec.hair.styles, allow_none=True)
    hair = None
    if style is not None:
        hp, hc = _pick_color(rng, spec, spec.hair.palettes, hair=True)
        hair = HairSample(style, hp, hc, length=float(rng.random()))
    accessories = []
    acc = spec.accessories
    for kind in ACCESSORY_KINDS:
        draw = rng.random()  # always drawn, so one probability never shifts another's stream
        colour = _pick_color(rng, spec, acc.palettes)
        if draw < getattr(acc, kind):
            accessories.append(AccessorySample(kind, *colour))
    if any(a.kind == "cap" for a in accessories):  # one headwear at a time
        accessories = [a for a in accessories if a.kind != "hat"]
    return body, top, bottom, shoes, hair, accessories


def _pose(rng: np.random.Generator, spec: Spec) -> PoseSample:
    po = spec.pose
    source = choose(rng, po.sources)
    pose = PoseSample(
        source=source,
        bvh_file=po.bvh_files[int(rng.integers(len(po.bvh_files)))] if source == "bvh" else "",
        stride=draw_range(rng, po.stride), arm_swing=draw_range(rng, po.arm_swing), variant=int(rng.integers(4)),
    )
    return pose


def _other_people(spec: Spec, index: int, n_images: int) -> list[OtherPersonSample]:
    """Passers-by and occluders in the images of character `index`, from their own stream
    (specs without them expand exactly as before). `background.passers_by` / `occluders` are
    the expected counts per image (whole part always, the fraction with that probability),
    each a member of the dataset's pool drawn anew for every image: a companion in every
    image of one identity would be a cue to that identity that real cameras do not give.

    A passer-by walks behind the person as the camera sees it (`passer_by_distance` further
    away, ± 0.6 m to the side); an occluder stands 0.6–2 m nearer the camera and 0.35–0.7 m
    to one side, so it hides part of the person but never its middle (the mask must keep the
    person)."""
    b = spec.background
    if b.passers_by <= 0 and b.occluders <= 0:
        return []
    rng = _rng(spec.dataset.seed, index, _OTHER_PEOPLE_STREAM)
    members: dict[int, OtherPersonSample] = {}
    for k in range(n_images):
        counts = [(role, int(e) + int(rng.random() < e - int(e))) for role, e in
                  (("passer_by", b.passers_by), ("occluder", b.occluders))]
        chosen = iter(rng.permutation(b.people_pool)[: sum(n for _, n in counts)].tolist())
        for role, n in counts:
            for _ in range(n):
                if role == "passer_by":  # crops are narrow: near the line of sight, or unseen
                    x, y = draw_range(rng, b.passer_by_distance), float(rng.normal(0.0, 0.6))
                else:
                    x = -float(rng.uniform(0.6, 2.0))
                    y = float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.35, 0.7))
                p = next(chosen)
                if p not in members:
                    members[p] = dataclasses.replace(pool_person(spec, p), pid=index + 1,
                                                     placements=[None] * n_images)
                members[p].placements[k] = PersonPlacement(role, x, y, float(rng.uniform(0.0, 360.0)))
    return [members[p] for p in sorted(members)]


def pool_person(spec: Spec, p: int) -> OtherPersonSample:
    """Looks and pose of person `p` of the dataset's pool of other people (no placements
    yet): the same for every character that meets them."""
    rng = _rng(spec.dataset.seed, _PEOPLE_POOL_KEY, p)
    body, top, bottom, shoes, hair, accessories = _looks(rng, spec)
    if hair is not None:
        hair.volume, hair.ragged = draw_range(rng, spec.hair.volume), draw_range(rng, spec.hair.ragged)
    pose, phase = _pose(rng, spec), float(rng.random())
    if pose.source == "bvh":  # a clip is the target's business: others walk
        pose = dataclasses.replace(pose, source="walk", bvh_file="")
    return OtherPersonSample(pool_index=p, pid=0, body=body, top=top, bottom=bottom, shoes=shoes, hair=hair,
                             accessories=accessories, pose=pose, pose_phase=phase, placements=[])


def expand_character(spec: Spec, index: int, split: str | None = None) -> CharacterSample:
    """All samples of character `index` (0-based). `split` saves recomputing the split table."""
    if not 0 <= index < spec.dataset.characters:
        raise IndexError(f"character index {index} outside 0..{spec.dataset.characters - 1}")
    if split is None:
        split = assign_splits(spec)[index]
    rng = _rng(spec.dataset.seed, index, _CHARACTER_STREAM)
    body, top, bottom, shoes, hair, accessories = _looks(rng, spec)
    background = _background(rng, spec)
    pose = _pose(rng, spec)
    seed = int(rng.integers(2**31))
    # Drawn after every older draw: specs without structures expand exactly as before.
    background.structures = _structures(rng, spec)
    volume, ragged = draw_range(rng, spec.hair.volume), draw_range(rng, spec.hair.ragged)
    if hair is not None:
        hair.volume, hair.ragged = volume, ragged
    images = [_image(spec, index, k, split) for k in range(spec.dataset.images_per_character)]
    if spec.background.per_image:  # own streams: every other draw stays as without it
        for im in images:
            im.background = _image_background(spec, index, im.k)
    if split == SPLIT_TEST:
        _assign_queries(images)
    return CharacterSample(index=index, pid=index + 1, split=split, seed=seed, body=body, top=top, bottom=bottom,
                           shoes=shoes, hair=hair, accessories=accessories, background=background, pose=pose,
                           images=images, others=_other_people(spec, index, len(images)))


def _image_background(spec: Spec, index: int, k: int) -> BackgroundSample:
    """Image k's own room and structures (`background.per_image`), from its own stream."""
    rng = _rng(spec.dataset.seed, index, _IMAGE_BACKGROUND_STREAM, k)
    background = _background(rng, spec)
    background.structures = _structures(rng, spec)
    return background


def expand_dataset(spec: Spec):
    """Yield every character's samples in index order (a generator: datasets can be large)."""
    splits = assign_splits(spec)
    for i in range(spec.dataset.characters):
        yield expand_character(spec, i, splits[i])


def _rooms(c: CharacterSample) -> list[BackgroundSample]:
    """The rooms a character is seen in: its own, or one per image (`background.per_image`)."""
    own = [im.background for im in c.images if im.background is not None]
    return own or [c.background]


def summarize(spec: Spec, characters: list[CharacterSample]) -> dict[str, Any]:
    """Counts and attribute statistics of expanded characters (for `headless validate`)."""
    from collections import Counter

    n = len(characters)
    splits = Counter(c.split for c in characters)
    subsets = Counter(im.subset for c in characters for im in c.images)
    cams = Counter(im.camera_id for c in characters for im in c.images)
    def mean(xs):
        xs = list(xs)
        return float(np.mean(xs)) if xs else math.nan

    return {
        "characters": n,
        "images": sum(len(c.images) for c in characters),
        "splits": dict(sorted(splits.items())),
        "subsets": dict(sorted(subsets.items())),
        "camera_ids": dict(sorted(cams.items())),
        "male_fraction": mean(c.body.gender > 0.5 for c in characters),
        "mean_age_years": mean(c.body.age_years for c in characters),
        "tops": dict(Counter(c.top.kind if c.top else "none" for c in characters).most_common()),
        "bottoms": dict(Counter(c.bottom.kind if c.bottom else "none" for c in characters).most_common()),
        "hair": dict(Counter(c.hair.style if c.hair else "none" for c in characters).most_common()),
        "accessories": dict(Counter(a.kind for c in characters for a in c.accessories).most_common()),
        "textures": dict(Counter(g.texture for c in characters for g in (c.top, c.bottom) if g).most_common()),
        "pose_sources": dict(Counter(c.pose.source for c in characters).most_common()),
        "backgrounds": dict(Counter(b.source or b.kind for c in characters for b in _rooms(c)).most_common()),
        "other_people": dict(Counter(p.role for c in characters for o in c.others for p in o.placements if p)
                             .most_common()),
    }
