"""bpy tests of the shipped MPFB2 walk cycle driving the whole body (`apply_pose(..., "walk")`).

Joint positions are read from the evaluated pose (world space, after re-grounding); the
character faces −Y, so "ahead" means a smaller Y.
"""
import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synth_humans_addon.blender import body as B  # noqa: E402
from synth_humans_addon.blender.motion import pose as M  # noqa: E402
from synth_humans_addon.core.mpfb.phenotype import Phenotype  # noqa: E402
from synth_humans_addon.core.walk_cycle import walk_table  # noqa: E402

pytestmark = pytest.mark.blender

PHASES = np.arange(16) / 16.0


@pytest.fixture(scope="module")
def walker(base_mesh):
    b = B.build_body(Phenotype(gender=0.3, age_years=35), "#b89070")
    yield b
    B.remove_body(b)


def _joint(build, bone):
    """World position of a pose bone's head (valid after apply_pose, which updates the depsgraph)."""
    return np.array(build.armature.matrix_world @ build.armature.pose.bones[bone].head)


def _pose(build, phase, **kw):
    M.apply_pose(build, "walk", phase=float(phase), **kw)
    return {n: _joint(build, n) for n in ("root", "upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R",
                                          "lowerleg01.R", "foot.R", "upperarm01.L", "wrist.L", "wrist.R")}


def _knee_flexion(j, side):
    thigh = j[f"lowerleg01.{side}"] - j[f"upperleg01.{side}"]
    shin = j[f"foot.{side}"] - j[f"lowerleg01.{side}"]
    return math.degrees(math.acos(np.clip(thigh @ shin / np.linalg.norm(thigh) / np.linalg.norm(shin), -1, 1)))


def test_table_loops_and_has_no_forward_travel():
    table = walk_table()
    for (bone, channel), v in table.values.items():
        assert np.allclose(v[0], v[-1], atol=1e-9), (bone, channel)
        assert np.isfinite(v).all(), (bone, channel)
    root = table.values[("root", "location")]
    # the file's root travels 0.785 m; what is left is the pelvis' own surge and bob
    assert np.ptp(root, axis=0).max() < 0.06


def test_feet_alternate(walker):
    lead = []  # > 0: left foot ahead of the right one
    for p in PHASES:
        j = _pose(walker, p)
        lead.append(j["foot.R"][1] - j["foot.L"][1])
    lead = np.array(lead)
    assert lead.max() > 0.2 and lead.min() < -0.2  # real strides, both ways
    half = len(PHASES) // 2
    for i in range(len(PHASES)):
        if abs(lead[i]) > 0.15:  # half a cycle later the other foot leads
            assert np.sign(lead[(i + half) % len(PHASES)]) == -np.sign(lead[i]), (PHASES[i], lead)


def test_knees_bend_forward_within_a_human_range(walker):
    flex = {"L": [], "R": []}
    for p in PHASES:
        j = _pose(walker, p)
        for side in "LR":
            f = _knee_flexion(j, side)
            flex[side].append(f)
            if f > 10.0:  # a bent knee sits in front of the hip–ankle line
                hip, knee, ankle = j[f"upperleg01.{side}"], j[f"lowerleg01.{side}"], j[f"foot.{side}"]
                line = (ankle - hip) / np.linalg.norm(ankle - hip)
                off = (knee - hip) - line * ((knee - hip) @ line)
                assert off[1] < -0.01, (side, p, f)
    for side, f in flex.items():
        f = np.array(f)
        assert f.min() >= 0.0 and f.max() < 75.0, (side, f)
        assert f.max() > 35.0, (side, f)  # the swing leg folds
        assert f.min() < 20.0, (side, f)  # the stance leg is nearly straight


def test_feet_stay_on_the_ground_and_the_walk_stays_on_the_spot(walker):
    low, high, pelvis = [], [], []
    for p in PHASES:
        j = _pose(walker, p)
        ankles = sorted((j["foot.L"][2], j["foot.R"][2]))
        low.append(ankles[0])
        high.append(ankles[1])
        pelvis.append(j["root"][:2])
    low, high = np.array(low), np.array(high)
    rest_ankle = walker.rig.bone("foot.L").head[2]
    # the planted foot's ankle stays near its standing height; the swing foot lifts but not much
    assert np.all(np.abs(low - rest_ankle) < 0.05), (low, rest_ankle)
    assert np.ptp(low) < 0.05
    assert high.max() - rest_ankle > 0.04 and high.max() - rest_ankle < 0.3
    assert np.abs(np.array(pelvis)).max() < 0.1  # no forward travel


def test_arms_swing_against_the_legs(walker):
    lead_leg, lead_arm = [], []
    for p in PHASES:
        j = _pose(walker, p)
        lead_leg.append(j["foot.R"][1] - j["foot.L"][1])
        lead_arm.append(j["wrist.R"][1] - j["wrist.L"][1])
    corr = np.corrcoef(lead_leg, lead_arm)[0, 1]
    assert corr < -0.5, corr  # left foot ahead ↔ left hand behind
    assert np.ptp(lead_arm) > 0.1


def test_phase_one_meets_phase_zero_and_is_deterministic(walker):
    def bones():
        return np.array([list(pb.matrix) for pb in walker.armature.pose.bones])
    M.apply_pose(walker, "walk", phase=0.0)
    start = bones()
    M.apply_pose(walker, "walk", phase=1.0 - 1e-6)
    end = bones()
    assert np.abs(start - end).max() < 2e-3
    M.apply_pose(walker, "walk", phase=0.37)
    a = [tuple(pb.rotation_quaternion) for pb in walker.armature.pose.bones]
    M.apply_pose(walker, "walk", phase=0.37)
    assert a == [tuple(pb.rotation_quaternion) for pb in walker.armature.pose.bones]


def test_stride_and_arm_swing_scale_the_motion(walker):
    def spread(**kw):
        legs, arms = [], []
        for p in PHASES[::2]:
            j = _pose(walker, p, **kw)
            legs.append(j["foot.R"][1] - j["foot.L"][1])
            arms.append(j["wrist.R"][1] - j["wrist.L"][1])
        return np.ptp(legs), np.ptp(arms)
    legs_short, arms_small = spread(stride=0.7, arm_swing=0.5)
    legs_long, arms_big = spread(stride=1.2, arm_swing=1.3)
    assert legs_long > legs_short * 1.3
    assert arms_big > arms_small * 1.5


@pytest.mark.parametrize("phenotype", [Phenotype(gender=1.0, height=0.9, weight=0.2, age_years=25),
                                       Phenotype(gender=0.0, height=0.1, weight=0.9, age_years=70)])
@pytest.mark.parametrize("kw", [dict(), dict(stride=0.0, arm_swing=0.0), dict(stride=2.0, arm_swing=3.0)])
def test_no_nans_on_extreme_bodies_and_settings(base_mesh, phenotype, kw):
    b = B.build_body(phenotype, "#a07050")
    try:
        for p in (0.0, 0.3, 0.55, 0.8):
            M.apply_pose(b, "walk", phase=p, **kw)
            mats = np.array([list(pb.matrix) for pb in b.armature.pose.bones])
            assert np.isfinite(mats).all()
            assert np.isfinite(b.armature.location.z) and abs(b.armature.location.z) < 0.5
    finally:
        B.remove_body(b)
