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
        table = HAIR_PALETTES if hair and name in HAIR_PALETTES else CLOTHING_PALETTES
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
