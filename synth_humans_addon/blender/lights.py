"""Lights from a `LightSample`: one sun or area light plus the world (ambient) strength.

The sun comes from (azimuth, elevation); an area light of 2 m sits 5 m away in the same
direction, aimed at the character's chest, with a power scaled so that it lights the
person about as brightly as a sun of the same `strength`. Colour temperature becomes an
RGB light colour (`kelvin_to_rgb`), so scenes range from warm indoor to cool daylight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

from . import room as room_mod
from . import scene as scene_mod

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


@dataclass
class Lights:
    sun: Any
    area: Any


def build_lights(scene: bpy.types.Scene) -> Lights:
    """Create one sun and one area light (hidden until `apply_light_sample` picks one)."""
    sun_data = bpy.data.lights.new("sh_sun", "SUN")
    sun_data.angle = math.radians(3.0)  # soft-edged shadows
    area_data = bpy.data.lights.new("sh_area", "AREA")
    area_data.size = AREA_SIZE
    sun = scene_mod.link(scene, bpy.data.objects.new("sh_sun", sun_data))
    area = scene_mod.link(scene, bpy.data.objects.new("sh_area", area_data))
    return Lights(sun, area)


def light_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector from the character towards the light (azimuth 0 = in front, −Y)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)])


def _aim(obj, position: np.ndarray, target: np.ndarray) -> None:
    from mathutils import Vector

    obj.location = Vector(position.tolist())
    obj.rotation_euler = (Vector(target.tolist()) - obj.location).to_track_quat("-Z", "Y").to_euler()


def apply_light_sample(lights: Lights, room: "room_mod.Room", sample: Any) -> None:
    """Switch to the sampled light and set its direction, strength, colour and the world light."""
    colour = kelvin_to_rgb(sample.color_temperature_k)
    direction = light_direction(sample.azimuth_deg, sample.elevation_deg)
    target = np.array([0.0, 0.0, TARGET_HEIGHT])
    use_sun = sample.kind == "sun"
    lights.sun.hide_render = not use_sun
    lights.area.hide_render = use_sun
    if use_sun:
        lights.sun.data.energy = float(sample.strength)
        lights.sun.data.color = colour
        _aim(lights.sun, target + direction * 10.0, target)
    else:
        # Irradiance of a small area light at distance d ≈ P / (π d²)·cos (Lambert emitter);
        # match the sun's W/m² at the character.
        lights.area.data.energy = float(sample.strength) * math.pi * AREA_DISTANCE ** 2
        lights.area.data.color = colour
        _aim(lights.area, target + direction * AREA_DISTANCE, target)
    room_mod.set_world_strength(room, sample.world_strength)
