"""The clothes tests' bpy modules end in `_blender.py`; the Blender-free session
(`-m "not blender"`) must not even collect them, because collecting imports bpy."""
from __future__ import annotations


def pytest_ignore_collect(collection_path, config):
    markexpr = (config.getoption("markexpr") or "").replace(" ", "")
    if markexpr == "notblender" and collection_path.name.endswith("_blender.py"):
        return True
    return None
