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
