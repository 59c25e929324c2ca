"""Look-at, projection and crop planning."""
from __future__ import annotations

import numpy as np
import pytest

from synth_humans_addon.core import geometry


def test_look_at_points_the_camera_at_the_target():
    eye = np.array([3.0, -4.0, 2.0])
    target = np.array([0.0, 0.0, 1.0])
    rot = geometry.look_at(eye, target)
    assert np.allclose(rot.T @ rot, np.eye(3))
    forward = -rot[:, 2]
    assert np.allclose(forward, (target - eye) / np.linalg.norm(target - eye))
    assert rot[2, 1] > 0  # camera up has a positive world-Z component


def test_projection_of_the_target_is_the_frame_centre():
    eye = geometry.spherical_to_cartesian(30, 70, 6.0) + np.array([0, 0, 0.9])
    m = geometry.camera_matrix(eye, geometry.look_at(eye, np.array([0, 0, 0.9])))
    intr = geometry.Intrinsics(50, 36, 640, 480)
    p = geometry.project_points(np.array([[0, 0, 0.9]]), m, intr)
    assert np.allclose(p[0, :2], [320, 240])
    assert p[0, 2] == pytest.approx(6.0)


def test_crop_plan_has_the_requested_height_and_contains_the_box():
    eye = geometry.spherical_to_cartesian(45, 60, 6.0) + np.array([0, 0, 0.9])
    m = geometry.camera_matrix(eye, geometry.look_at(eye, np.array([0, 0, 0.9])))
    corners = geometry.box_corners([-0.3, -0.2, 0.0], [0.3, 0.2, 1.8])
    plan = geometry.plan_crop(corners, m, 50, 36, crop_height=256, margin=0.05)
    assert plan.height == 256
    assert 0.2 < plan.width / plan.height < 0.8
    intr = geometry.Intrinsics(50, 36, plan.frame_width, plan.frame_height)
    proj = geometry.project_points(corners, m, intr)
    assert proj[:, 0].min() >= plan.x0 and proj[:, 0].max() <= plan.x1
    assert proj[:, 1].min() >= plan.y0 and proj[:, 1].max() <= plan.y1
    bx0, bx1, by0, by1 = plan.border
    assert 0 <= bx0 < bx1 <= 1 and 0 <= by0 < by1 <= 1


def test_box_behind_the_camera_is_refused():
    eye = np.array([0.0, -6.0, 1.0])
    m = geometry.camera_matrix(eye, geometry.look_at(eye, np.array([0.0, -12.0, 1.0])))  # looking away
    with pytest.raises(geometry.CharacterOutOfFrame):
        geometry.plan_crop(geometry.box_corners([-0.3, -0.2, 0], [0.3, 0.2, 1.8]), m, 50, 36, 256)


def _plan(box=None, crop_height=300):
    eye = geometry.spherical_to_cartesian(20, 70, 6.0) + np.array([0, 0, 0.9])
    m = geometry.camera_matrix(eye, geometry.look_at(eye, np.array([0, 0, 0.9])))
    corners = geometry.box_corners([-0.3, -0.2, 0.0], [0.3, 0.2, 1.8])
    plan = geometry.plan_crop(corners, m, 50, 36, crop_height=crop_height, margin=0.0, box=box)
    proj = geometry.project_points(corners, m, geometry.Intrinsics(50, 36, plan.frame_width, plan.frame_height))
    return plan, proj


def test_detector_box_cuts_feet_and_head_and_keeps_the_output_size():
    from synth_humans_addon.core.sampling import BoxSample

    tight, _ = _plan()
    assert _plan(BoxSample())[0] == tight  # the neutral box changes nothing
    feet, proj = _plan(BoxSample(cut_bottom=0.15))
    assert feet.height == 300
    person_h = proj[:, 1].max() - proj[:, 1].min()
    # The crop ends above the person's lowest point by 15 % of its height; the top stays.
    assert proj[:, 1].max() - feet.y1 == pytest.approx(0.15 * person_h, abs=2)
    assert abs(feet.y0 - proj[:, 1].min()) <= 1
    head, proj = _plan(BoxSample(cut_top=0.1))
    assert head.y0 - proj[:, 1].min() == pytest.approx(0.1 * (proj[:, 1].max() - proj[:, 1].min()), abs=2)


def test_detector_box_aspect_scale_and_shift():
    from synth_humans_addon.core.sampling import BoxSample

    tight, proj = _plan()
    narrow, _ = _plan(BoxSample(aspect=0.8))
    assert narrow.width == pytest.approx(0.8 * tight.width, abs=1)
    fixed, _ = _plan(BoxSample(output_aspect=3.4))
    assert fixed.height / fixed.width == pytest.approx(3.4, rel=0.02)
    bigger, proj_big = _plan(BoxSample(scale=1.2))
    # At the same output height, a larger box shows the person smaller.
    person = (proj_big[:, 1].max() - proj_big[:, 1].min()) / bigger.height
    assert person == pytest.approx(1 / 1.2, rel=0.02)
    shifted, proj_s = _plan(BoxSample(shift_x=0.1))
    centre = (proj_s[:, 0].min() + proj_s[:, 0].max()) / 2
    assert (shifted.x0 + shifted.x1) / 2 - centre == pytest.approx(0.1 * shifted.width, abs=1.5)
