"""Shared test setup.

The suite runs in two pytest sessions (see run.sh): `-m "not blender"` must not import
`bpy` at all (the farm, the trainers and the core are Blender-free), then `-m blender`
builds real bpy scenes. The check below fails the first session if anything imports bpy.
"""
from __future__ import annotations

import os
import sys

import pytest

# Keep CPU-heavy tests polite on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_sessionfinish(session, exitstatus):
    markexpr = session.config.getoption("markexpr") or ""
    if markexpr.replace(" ", "") == "notblender" and "bpy" in sys.modules:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "ERROR: bpy was imported during the Blender-free test session", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
