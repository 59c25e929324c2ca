"""Colour palettes for clothes, hair and accessories, and the skin-tone model.

Real surveillance crops (CUHK03, Market-1501) are dominated by dark, muted clothes:
black, navy, grey, denim, khaki, white shirts. The `realistic` and `dark` palettes follow
that; `bright` exists because the source study found vivid colours turn a re-id model
into a colour classifier, and users may want to reproduce (or avoid) that.
Colours are sRGB hex strings; `hex_to_linear` converts for Blender's linear shaders.
"""
from __future__ import annotations

import colorsys

CLOTHING_PALETTES: dict[str, tuple[str, ...]] = {
    # Everyday clothing seen on the street: mostly dark and desaturated.
    "realistic": (
        "#1c1c1e", "#2b2b2e", "#3a3a3c", "#55565a", "#7c7d80", "#a9a9a6", "#d9d7d0", "#f0eee8",
        "#1f2a44", "#2c3e5c", "#3e5377", "#4a5d6e", "#5b6b7f", "#3b4a3a", "#4f5a3c", "#6b6e4a",
        "#7d6b4f", "#a08c6a", "#c2b49a", "#5c3b2e", "#6e4630", "#7a2e2e", "#8c3b3b", "#4b3a5a",
        "#2f4f4f", "#556b2f", "#8b7d6b", "#b5a58c", "#e6e4de", "#f5f4f0", "#c8c8c4", "#b9bcc0",
    ),
    # Winter crowds and office wear: near-black, charcoal, navy, brown.
    "dark": (
        "#0e0e10", "#16161a", "#1d1f24", "#24262b", "#2c2f36", "#33363d", "#1a2233", "#202b40",
        "#263248", "#2a2420", "#3a2e26", "#2e2a24", "#33302a", "#242b24", "#2b1d1d", "#3d3d40",
    ),
    # Saturated colours (the study's datasets I and II).
    "bright": (
        "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
        "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
        "#ff0000", "#00a000", "#0000ff", "#ffff00",
    ),
    "denim": ("#1b2a41", "#22324f", "#2d4263", "#3b5478", "#4d6a8f", "#6482a6", "#1f2733", "#2a3140"),
    # Footwear: black, white, browns, greys, tan (bright sneakers come from `bright`).
    "shoes": ("#111111", "#1c1a18", "#2a2522", "#3d2b1f", "#5a3c28", "#7a5a3a", "#a0805a", "#4a4a4a",
              "#6e6e6e", "#d8d8d4", "#ecebe6", "#f4f4f0"),
    "pastel": ("#f4c2c2", "#c2e0f4", "#c2f4d3", "#f4ecc2", "#dcc2f4", "#f4d9c2", "#e8e8e8", "#c9d6df"),
}

# Colour-name palettes: the classes of the pedestrian attribute annotations below, as the
# muted, shaded shades such a label covers on real street clothes (a "red" top in a
# surveillance crop is a dull brick or maroon far more often than #ff0000).
COLOR_NAME_PALETTES: dict[str, tuple[str, ...]] = {
    "black": ("#0f0f11", "#151518", "#1b1b1f", "#202125", "#26272b", "#1a1c22", "#222026"),
    "white": ("#e9e8e4", "#dcdbd6", "#f1f0ec", "#d2d1cb", "#e4e2da", "#c9c8c3"),
    "gray": ("#3c3d40", "#4d4e52", "#5f6064", "#737478", "#88898c", "#9d9ea0", "#b3b3b2"),
    "blue": ("#1c2740", "#23324f", "#2e4063", "#3d5379", "#4e6890", "#2a3850", "#5a7391"),
    "red": ("#5e1f22", "#7a2a2c", "#8f3433", "#a33f3a", "#6e2430", "#b04a42"),
    "green": ("#2f3a2c", "#3d4a35", "#4c5a3e", "#5d6b48", "#35473d", "#6a7552"),
    "yellow": ("#b49a4c", "#c7ad5a", "#a88c3e", "#d1bb72", "#9b8a50"),
    "purple": ("#3d2f4c", "#4f3b5e", "#614a70", "#76608a", "#5a3f55"),
    "brown": ("#3b2a20", "#4e3828", "#634733", "#7a5a40", "#8f7052", "#a98d6a"),
    "pink": ("#c9959a", "#b77f88", "#d8a9ab", "#a86c78", "#e0bcbc"),
}

# How many identities wear each colour, from the attribute annotations of Market-1501
# (1,501 ids, summer, Tsinghua campus) and DukeMTMC-reID (1,812 ids, winter, Duke campus)
# published with Lin et al., "Improving person re-identification by attribute and identity
# learning", Pattern Recognition 95 (2019), doi:10.1016/j.patcog.2019.06.006
# (github.com/vana77/Market-1501_Attribute, github.com/vana77/DukeMTMC-attribute; train +
# test ids of both, counted from market_attribute.mat and duke_attribute.mat). Market has
# no "brown" upper label and Duke no "yellow"/"pink"/"purple" lower ones; Duke's lower
# "red" is counted with "pink". Each id has exactly one upper and one lower colour label;
# ids labelled with none are left out.
PUBLISHED_COLOR_COUNTS: dict[str, dict[str, int]] = {
    "upper": {"black": 1319, "white": 573, "gray": 409, "blue": 267, "red": 251, "green": 131, "yellow": 97,
              "purple": 70, "brown": 34},
    "lower": {"black": 1422, "blue": 825, "gray": 419, "white": 250, "brown": 201, "pink": 80, "green": 42,
              "yellow": 11, "purple": 2},
}


def published_color_weights(role: str, jeans: float = 0.0) -> dict[str, float]:
    """Palette weights (colour-name palettes) for `role` "upper" or "lower", from the counts
    above, as fractions summing to 1.

    Jeans are blue: with a probability `jeans` that trousers are jeans (drawn separately, in
    the denim palette), that much of the published "blue" share is taken off the lower
    palettes, so blue legs overall keep their published frequency."""
    counts = PUBLISHED_COLOR_COUNTS[role]
    total = sum(counts.values())
    w = {k: v / total for k, v in counts.items()}
    if jeans > 0:
        if jeans >= 1 or jeans > w["blue"] + 1e-12:
            raise ValueError(f"jeans = {jeans} exceeds the published blue share {w['blue']:.3f}")
        w["blue"] = (w["blue"] - jeans) / (1 - jeans)
        w = {k: (v if k == "blue" else v / (1 - jeans)) for k, v in w.items()}
    return {k: round(v, 4) for k, v in w.items()}


HAIR_PALETTES: dict[str, tuple[str, ...]] = {
    "natural": (
        "#0b0908", "#14100d", "#1f1712", "#2a1d14", "#3b2819", "#4e3421", "#6a4a2f", "#8d6a45",
        "#b08d5e", "#d2b07a", "#8e3b1f", "#a9542a", "#9a9a9a", "#c8c8c8", "#e0ddd5",
    ),
    # CUHK03-like crowds: black and dark brown dominate.
    "dark": ("#080706", "#0d0b09", "#120f0c", "#19130f", "#201812", "#2b1f16"),
    "dyed": ("#7a1f2b", "#b0306a", "#3f51b5", "#6a1b9a", "#e0c068", "#ff7043", "#4db6ac"),
}

# Base skin tones (sRGB) per ethnicity target; blended in linear space by the mix weights.
SKIN_BASE = {
    "african": "#5a3a28",
    "asian": "#d9b38c",
    "caucasian": "#ecc4a6",
}


def palette_colors(name: str, custom: dict[str, list[str]] | None = None, hair: bool = False) -> tuple[str, ...]:
    """The colours of a palette by name (custom palettes take precedence)."""
    if custom and name in custom:
        colors = tuple(custom[name])
    else:
        table = HAIR_PALETTES if hair and name in HAIR_PALETTES else (
            CLOTHING_PALETTES if name in CLOTHING_PALETTES else COLOR_NAME_PALETTES)
        if name not in table:
            raise KeyError(f"unknown palette {name!r}")
        colors = table[name]
    if not colors:
        raise ValueError(f"palette {name!r} is empty")
    return colors


def hex_to_srgb(c: str) -> tuple[float, float, float]:
    s = c.lstrip("#")
    return tuple(int(s[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def srgb_to_hex(rgb) -> str:
    return "#" + "".join(f"{max(0, min(255, int(round(v * 255)))):02x}" for v in rgb)


def srgb_to_linear(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def linear_to_srgb(v: float) -> float:
    return v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055


def hex_to_linear(c: str) -> tuple[float, float, float]:
    return tuple(srgb_to_linear(v) for v in hex_to_srgb(c))  # type: ignore[return-value]


def jitter_color(c: str, hue: float, sat: float, val: float) -> str:
    """Shift a colour in HSV (hue in turns, sat/val as multiplicative factors around 1)."""
    h, s, v = colorsys.rgb_to_hsv(*hex_to_srgb(c))
    return srgb_to_hex(colorsys.hsv_to_rgb((h + hue) % 1.0, min(1.0, s * sat), min(1.0, v * val)))


def skin_color(ethnicity: dict[str, float], age_years: float, variation: float) -> str:
    """Skin tone from the ethnicity mix, age and a per-person variation in [−1, 1].

    Blends the base tones in linear light by the mix weights; older skin is slightly less
    saturated; `variation` darkens or lightens by up to ±15 % so equal mixes still differ.
    """
    total = sum(ethnicity.values()) or 1.0
    lin = [0.0, 0.0, 0.0]
    for name, w in ethnicity.items():
        base = hex_to_linear(SKIN_BASE[name])
        for i in range(3):
            lin[i] += base[i] * w / total
    rgb = [linear_to_srgb(v) for v in lin]
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    s *= 1.0 - 0.25 * max(0.0, min(1.0, (age_years - 40.0) / 50.0))
    v *= 1.0 + 0.15 * max(-1.0, min(1.0, variation))
    return srgb_to_hex(colorsys.hsv_to_rgb(h, min(1.0, s), min(1.0, v)))
