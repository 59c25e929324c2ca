"""The one bone-name table (`core.mpfb.bones`) against the MPFB2 rig files it names (no bpy)."""
import numpy as np
import pytest

from synth_humans_addon.core.mpfb.bones import (BVH_NAMES, KEYPOINTS, match_bvh_roles, missing_bvh_roles,
                                                rig_bone_name, semantic_names)
from synth_humans_addon.core.mpfb.rig import load_rig, rig_names


def test_semantic_bone_names(base_mesh):
    assert rig_bone_name("default_no_toes", "left_hand") == "wrist.L"
    assert rig_bone_name("cmu_mb", "right_thigh") == "RightUpLeg"
    assert rig_bone_name("game_engine", "left_foot") == "foot_l"
    assert rig_bone_name("mixamo", "head") == "mixamorig:Head"
    for rig_name in ("default_no_toes", "cmu_mb"):
        bones = set(load_rig(rig_name).bone_names)
        for s in ("head", "neck", "chest", "hips", "left_hand", "right_hand", "left_foot", "right_foot",
                  "left_upperarm", "right_forearm", "left_thigh", "right_shin"):
            assert rig_bone_name(rig_name, s) in bones, (rig_name, s)
    with pytest.raises(KeyError, match="tail"):
        rig_bone_name("default", "tail")


def test_every_role_names_a_bone_of_every_rig(base_mesh):
    for rig_name in rig_names():
        bones = set(load_rig(rig_name).bone_names)
        for role in semantic_names():
            try:
                name = rig_bone_name(rig_name, role)
            except KeyError:  # a role this rig has no bone for (the game engine's hip joints)
                continue
            assert name in bones, (rig_name, role, name)


@pytest.mark.parametrize("other", ["cmu_mb", "game_engine"])
def test_a_role_starts_at_the_same_joint_in_every_rig(base_mesh, other):
    """The rig files place bones on the same joint cubes: a role's bone starts where the
    other rig's bone of that role starts. "shoulder" is the collar bone from the clavicle
    joint (clavicle.L), like CMU's LeftShoulder; MPFB's shoulder01.L (the scapula) starts
    8 cm further out."""
    ours, theirs = load_rig("default"), load_rig(other)
    for side in ("left", "right"):
        for limb in ("shoulder", "upperarm", "forearm", "hand", "thigh", "shin", "foot"):
            role = f"{side}_{limb}"
            a = ours.bone(rig_bone_name("default", role)).head
            b = theirs.bone(rig_bone_name(other, role)).head
            assert np.linalg.norm(a - b) < 0.005, (role, other)
    scapula = ours.bone("shoulder01.L").head
    assert np.linalg.norm(scapula - theirs.bone(rig_bone_name(other, "left_shoulder")).head) > 0.05


def test_keypoints_sit_on_roles():
    roles = set(semantic_names())
    for name, (role, where) in KEYPOINTS.items():
        assert role in roles and where in ("head", "mid"), name


def test_bvh_joints_match_roles_by_cmu_and_mixamo_names():
    cmu = ["Hips", "LowerBack", "Spine", "Spine1", "Neck", "Head", "LeftShoulder", "LeftArm", "LeftForeArm",
           "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand", "LeftUpLeg", "LeftLeg",
           "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase"]
    roles = match_bvh_roles(cmu)
    assert set(roles) == set(BVH_NAMES) and missing_bvh_roles(roles) == []
    assert roles["lower_spine"] == "LowerBack" and roles["left_shoulder"] == "LeftShoulder"
    mixamo = ["mixamorig:" + n for n in ("Hips", "Spine", "Spine1", "Spine2", "LeftUpLeg", "LeftLeg", "LeftFoot")]
    roles = match_bvh_roles(mixamo)
    # each file joint plays one role: Spine, Spine1, Spine2 fall on lower_spine, spine, chest
    assert (roles["lower_spine"], roles["spine"], roles["chest"]) == tuple(mixamo[1:4])
    assert missing_bvh_roles(roles)[:3] == ["RightUpLeg", "RightLeg", "RightFoot"]
