"""The light of an image in numbers (no bpy): colour temperature → RGB, direction, area-light power.

`blender/lights.py` sets these on a sun or an area light: the sun comes from (azimuth,
elevation); an area light of `AREA_SIZE` m sits `AREA_DISTANCE` m away in the same
direction, aimed at the character's chest (`TARGET_HEIGHT`), with a power that lights the
person about as brightly as a sun of the same strength.
"""
from __future__ import annotations

import math

import numpy as np

AREA_DISTANCE = 5.0
AREA_SIZE = 2.0
TARGET_HEIGHT = 1.2


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear RGB (max channel 1) of a black body at `kelvin`, after Tanner Helland's fit."""
    t = min(40000.0, max(1000.0, kelvin)) / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    srgb = np.clip(np.array([r, g, b]) / 255.0, 0.0, 1.0)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return tuple(float(v) for v in lin / lin.max())


def light_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector from the character towards the light (azimuth 0 = in front, −Y)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)])


def area_light_power(strength: float) -> float:
    """Watts of the area light that match a sun of `strength` W/m² at the character.

    A small area light's irradiance at distance d is about P / (π d²)·cos (a Lambert emitter)."""
    return float(strength) * math.pi * AREA_DISTANCE ** 2
