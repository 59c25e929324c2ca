"""The procedural walk's angles (`core.gait`), without Blender."""
import math
from dataclasses import astuple

import pytest

from synth_humans_addon.core.gait import gait_angles


def test_the_gait_loops_and_the_sides_run_half_a_cycle_apart():
    for phase in (0.0, 0.13, 0.5, 0.77):
        g = gait_angles(phase, stride=1.2, arm_swing=0.8)
        again = gait_angles(phase + 1.0, stride=1.2, arm_swing=0.8)
        for side in "LR":
            assert astuple(g.sides[side]) == pytest.approx(astuple(again.sides[side]), abs=1e-9)
        later = gait_angles(phase + 0.5, 1.2, 0.8)
        assert astuple(g.sides["R"]) == pytest.approx(astuple(later.sides["L"]), abs=1e-9)


def test_legs_and_arms_swing_against_each_other_and_scale_with_stride_and_swing():
    g = gait_angles(0.25, stride=1.0, arm_swing=1.0)  # left thigh furthest forward
    assert g.sides["L"].thigh == pytest.approx(24.0) and g.sides["L"].upperarm == pytest.approx(-18.0)
    assert g.sides["R"].thigh == pytest.approx(-24.0)
    still = gait_angles(0.25, stride=0.0, arm_swing=0.0)
    assert all(getattr(still.sides[s], f) == 0.0 for s in "LR" for f in ("thigh", "knee", "foot", "upperarm"))
    assert still.sides["L"].elbow == 15.0 and still.sway == 0.0 and still.lean == 3.0
    assert math.isclose(gait_angles(0.1, 2.0, 1.0).sides["L"].knee, 2 * gait_angles(0.1, 1.0, 1.0).sides["L"].knee)
