"""Bone names, in one table: the role a bone plays (``left_hand``, ``chest`` …) → its name in
each standard MPFB2 rig, and the names motion capture files give the same roles.

Accessories parent to roles, the procedural poses rotate roles, keypoints sit at the ends of
roles (`KEYPOINTS`) and BVH files are retargeted role by role (`BVH_NAMES`), so none of them
needs a rig's own names.

A role starts at the same joint in every rig: "shoulder" is the collar bone that starts at the
clavicle joint (`clavicle.L` in the default rigs, CMU's `LeftShoulder`, the game engine's
`clavicle_l`), not MPFB's `shoulder01.L`, which is the scapula segment after it
(tests/body/test_bone_names.py checks the heads against the rig files).
"""
from __future__ import annotations

# Role → bone, per standard rig. Sided roles are written "{side}_…" and their bones use {s}:
# "L"/"R" (default rigs) or "l"/"r" (game engine), {S}: "Left"/"Right" (CMU, Mixamo), {H}: "L"/"R".
_ROLES: dict[str, dict[str, str]] = {
    "default": {
        "root": "root", "hips": "root", "pelvis": "root", "spine": "spine03", "lower_spine": "spine04",
        "chest": "spine01", "upper_chest": "spine01", "neck": "neck01", "head": "head",
        "{side}_shoulder": "clavicle.{s}", "{side}_upperarm": "upperarm01.{s}", "{side}_forearm": "lowerarm01.{s}",
        "{side}_hand": "wrist.{s}", "{side}_thigh": "upperleg01.{s}", "{side}_shin": "lowerleg01.{s}",
        "{side}_foot": "foot.{s}", "{side}_toe": "toe1-1.{s}", "{side}_hip": "pelvis.{s}",
        "{side}_upperarm_lower": "upperarm02.{s}", "{side}_forearm_lower": "lowerarm02.{s}",
        "{side}_thigh_lower": "upperleg02.{s}", "{side}_shin_lower": "lowerleg02.{s}",
    },
    "cmu_mb": {
        "root": "Hips", "hips": "Hips", "pelvis": "Hips", "spine": "Spine", "lower_spine": "LowerBack",
        "chest": "Spine1", "upper_chest": "Spine1", "neck": "Neck", "head": "Head",
        "{side}_shoulder": "{S}Shoulder", "{side}_upperarm": "{S}Arm", "{side}_forearm": "{S}ForeArm",
        "{side}_hand": "{S}Hand", "{side}_thigh": "{S}UpLeg", "{side}_shin": "{S}Leg", "{side}_foot": "{S}Foot",
        "{side}_toe": "{S}ToeBase", "{side}_hip": "{H}HipJoint",
    },
    "game_engine": {
        "root": "Root", "hips": "pelvis", "pelvis": "pelvis", "spine": "spine_01", "lower_spine": "spine_01",
        "chest": "spine_03", "upper_chest": "spine_03", "neck": "neck_01", "head": "head",
        "{side}_shoulder": "clavicle_{s}", "{side}_upperarm": "upperarm_{s}", "{side}_forearm": "lowerarm_{s}",
        "{side}_hand": "hand_{s}", "{side}_thigh": "thigh_{s}", "{side}_shin": "calf_{s}", "{side}_foot": "foot_{s}",
        "{side}_toe": "ball_{s}",
    },
    "mixamo": {
        "root": "mixamorig:Hips", "hips": "mixamorig:Hips", "pelvis": "mixamorig:Hips", "spine": "mixamorig:Spine",
        "lower_spine": "mixamorig:Spine", "chest": "mixamorig:Spine2", "upper_chest": "mixamorig:Spine2",
        "neck": "mixamorig:Neck", "head": "mixamorig:Head",
        "{side}_shoulder": "mixamorig:{S}Shoulder", "{side}_upperarm": "mixamorig:{S}Arm",
        "{side}_forearm": "mixamorig:{S}ForeArm", "{side}_hand": "mixamorig:{S}Hand",
        "{side}_thigh": "mixamorig:{S}UpLeg", "{side}_shin": "mixamorig:{S}Leg", "{side}_foot": "mixamorig:{S}Foot",
        "{side}_toe": "mixamorig:{S}ToeBase",
    },
}
_ROLES["default_no_toes"] = _ROLES["default"]
_ROLES["game_engine_with_breast"] = _ROLES["game_engine"]


def semantic_names() -> list[str]:
    """All roles that `rig_bone_name` understands."""
    out = []
    for key in _ROLES["default"]:
        out += [key.format(side=s) for s in ("left", "right")] if "{side}" in key else [key]
    return out


def sided(role: str, side: str) -> str:
    """``sided("thigh", "L") == "left_thigh"``: a role on the rig side "L" or "R"."""
    return f"{'left' if side == 'L' else 'right'}_{role}"


def rig_bone_name(rig_name: str, semantic: str) -> str:
    """The bone of rig `rig_name` playing the role `semantic` (e.g. ``"left_hand"``)."""
    table = _ROLES.get(rig_name)
    if table is None:
        raise KeyError(f"no semantic bone map for rig {rig_name!r}; known: {sorted(_ROLES)}")
    side = None
    key = semantic
    for prefix in ("left_", "right_"):
        if semantic.startswith(prefix):
            side, key = prefix[:-1], "{side}_" + semantic[len(prefix):]
    if key not in table:
        raise KeyError(f"unknown semantic bone {semantic!r} for rig {rig_name!r}; known: {semantic_names()}")
    pattern = table[key]
    if side is None:
        return pattern
    left = side == "left"
    short = ("L" if left else "R") if rig_name.startswith("default") else ("l" if left else "r")
    return pattern.format(s=short, S="Left" if left else "Right", H="L" if left else "R")


def bone_name(build_or_rig, semantic: str) -> str:
    """Role lookup on anything with a `rig_name` (a body build) or a `name` (a `rig.Rig`), or a rig name."""
    rig_name = build_or_rig if isinstance(build_or_rig, str) else getattr(build_or_rig, "rig_name", None) \
        or getattr(build_or_rig, "name")
    return rig_bone_name(rig_name, semantic)


# ---------------------------------------------------------------------------------------
# Keypoints: the main joints of COCO-like skeletons, each at one end of a role's bone
# ("head": the bone's head, "mid": halfway to its tail).

KEYPOINTS: dict[str, tuple[str, str]] = {
    "head": ("head", "mid"),
    "neck": ("neck", "head"),
    "left_shoulder": ("left_upperarm", "head"),
    "right_shoulder": ("right_upperarm", "head"),
    "left_elbow": ("left_forearm", "head"),
    "right_elbow": ("right_forearm", "head"),
    "left_wrist": ("left_hand", "head"),
    "right_wrist": ("right_hand", "head"),
    "left_hip": ("left_thigh", "head"),
    "right_hip": ("right_thigh", "head"),
    "left_knee": ("left_shin", "head"),
    "right_knee": ("right_shin", "head"),
    "left_ankle": ("left_foot", "head"),
    "right_ankle": ("right_foot", "head"),
}
# Metres: how deep each joint lies under the surface facing the camera (hip joints sit deep
# in the pelvis, elbows and wrists just under the skin), by the keypoint name's last word.
# A surface closer than this in front of a joint is its own flesh; farther in front, something
# else hides it (the render's visibility test).
KEYPOINT_DEPTH = {"head": 0.15, "neck": 0.12, "shoulder": 0.14, "hip": 0.18, "knee": 0.1, "ankle": 0.1,
                  "elbow": 0.09, "wrist": 0.08}
DEFAULT_KEYPOINT_DEPTH = 0.12


def keypoint_depth(name: str) -> float:
    return KEYPOINT_DEPTH.get(name.split("_")[-1], DEFAULT_KEYPOINT_DEPTH)


# ---------------------------------------------------------------------------------------
# Motion capture: role ← the joint names BVH files use (CMU first; Mixamo's "mixamorig:"
# prefix is stripped). Matched in this order, each file joint to one role at most, so a
# Mixamo file's Spine, Spine1, Spine2 fall on lower_spine, spine, chest.

BVH_NAMES: dict[str, tuple[str, ...]] = {
    "root": ("Hips", "hip", "pelvis"),
    "lower_spine": ("LowerBack", "Spine"), "spine": ("Spine", "Spine1"), "chest": ("Spine1", "Spine2", "Chest"),
    "neck": ("Neck",), "head": ("Head",),
    "left_shoulder": ("LeftShoulder", "LeftCollar"), "left_upperarm": ("LeftArm", "LeftUpArm"),
    "left_forearm": ("LeftForeArm", "LeftLowArm"), "left_hand": ("LeftHand",),
    "right_shoulder": ("RightShoulder", "RightCollar"), "right_upperarm": ("RightArm", "RightUpArm"),
    "right_forearm": ("RightForeArm", "RightLowArm"), "right_hand": ("RightHand",),
    "left_thigh": ("LeftUpLeg", "LeftHip", "LeftThigh"), "left_shin": ("LeftLeg", "LeftKnee", "LeftShin"),
    "left_foot": ("LeftFoot", "LeftAnkle"), "left_toe": ("LeftToeBase", "LeftToe"),
    "right_thigh": ("RightUpLeg", "RightHip", "RightThigh"), "right_shin": ("RightLeg", "RightKnee", "RightShin"),
    "right_foot": ("RightFoot", "RightAnkle"), "right_toe": ("RightToeBase", "RightToe"),
}
# Without these a file cannot drive a walking body.
BVH_REQUIRED = ("root", "left_thigh", "left_shin", "left_foot", "right_thigh", "right_shin", "right_foot",
                "left_upperarm", "left_forearm", "right_upperarm", "right_forearm")


def match_bvh_roles(src_names: list[str]) -> dict[str, str]:
    """Role → the file's joint that plays it, for every role that one of its names matches
    (exactly, else ignoring case)."""
    clean = {n.split(":")[-1]: n for n in src_names}
    lower = {k.lower(): v for k, v in clean.items()}
    out: dict[str, str] = {}
    used: set[str] = set()
    for role, candidates in BVH_NAMES.items():
        for c in candidates:
            hit = clean.get(c) or lower.get(c.lower())
            if hit and hit not in used:
                out[role] = hit
                used.add(hit)
                break
    return out


def missing_bvh_roles(matched: dict[str, str]) -> list[str]:
    """The required roles a file lacks, each named by its CMU joint name (for the error)."""
    return [BVH_NAMES[r][0] for r in BVH_REQUIRED if r not in matched]
