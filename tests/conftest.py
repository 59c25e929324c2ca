"""Shared test setup.

The suite runs in two pytest sessions (see run.sh): `-m "not blender"` must not import
`bpy` at all (the farm, the trainers and the core are Blender-free), then `-m blender`
builds real bpy scenes. The check below fails the first session if anything imports bpy.
"""
from __future__ import annotations

import os
import re
import sys

import pytest

# A module-level `import bpy` / `bpy = pytest.importorskip("bpy")` makes a test file a
# Blender one: the Blender-free session must not even collect it (collecting imports it).
_TOP_LEVEL_BPY = re.compile(r"^(import bpy|from bpy\b|bpy = pytest\.importorskip)", re.M)

# Keep CPU-heavy tests polite on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _blender_free_session(config) -> bool:
    return (config.getoption("markexpr") or "").replace(" ", "") == "notblender"


def pytest_ignore_collect(collection_path, config):
    if not _blender_free_session(config) or collection_path.suffix != ".py":
        return None
    if collection_path.name.endswith("_blender.py"):
        return True
    if collection_path.name.startswith("test_"):
        try:
            if _TOP_LEVEL_BPY.search(collection_path.read_text(encoding="utf-8")):
                return True
        except OSError:
            return None
    return None


def pytest_sessionfinish(session, exitstatus):
    if _blender_free_session(session.config) and "bpy" in sys.modules:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "ERROR: bpy was imported during the Blender-free test session", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
