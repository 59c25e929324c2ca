"""The render's bpy-free numbers: light colour, direction and power, and the blank-image check."""
import numpy as np
import pytest

from synth_humans_addon.core.lighting import AREA_DISTANCE, area_light_power, kelvin_to_rgb, light_direction
from synth_humans_addon.core.renderer import BlankRenderError, check_not_blank


def test_colour_temperature_runs_from_warm_to_cool():
    warm, day, cool = kelvin_to_rgb(2700), kelvin_to_rgb(6600), kelvin_to_rgb(12000)
    assert max(warm) == max(day) == max(cool) == 1.0
    assert warm[0] == 1.0 and warm[2] < 0.3
    assert min(day) > 0.9
    assert cool[2] == 1.0 and cool[0] < 0.8


def test_light_direction_and_area_power():
    np.testing.assert_allclose(light_direction(0, 0), [0, -1, 0], atol=1e-12)  # in front of the character
    np.testing.assert_allclose(light_direction(90, 0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(light_direction(0, 90), [0, 0, 1], atol=1e-12)
    assert area_light_power(2.0) == pytest.approx(2.0 * np.pi * AREA_DISTANCE ** 2)


def test_blank_images_are_refused():
    rgb, mask = np.full((8, 4, 3), 90, np.uint8), np.full((8, 4), 255, np.uint8)
    check_not_blank(rgb, mask, "ok")
    with pytest.raises(BlankRenderError, match="mask is empty"):
        check_not_blank(rgb, mask * 0, "x")
    with pytest.raises(BlankRenderError, match="black"):
        check_not_blank(rgb * 0, mask, "x")
