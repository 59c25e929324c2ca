"""Lights from a `LightSample`: one sun or area light plus the world (ambient) strength.

The numbers (direction, colour from the temperature, the area light's power) come from
`core.lighting`; this module makes the lights and sets them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

from ..core.lighting import AREA_DISTANCE, AREA_SIZE, TARGET_HEIGHT, area_light_power, kelvin_to_rgb, light_direction
from . import room as room_mod
from . import scene as scene_mod


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
        lights.area.data.energy = area_light_power(sample.strength)
        lights.area.data.color = colour
        _aim(lights.area, target + direction * AREA_DISTANCE, target)
    room_mod.set_world_strength(room, sample.world_strength)
