"""Where the add-on's settings live: the scene that holds the spec.

The panels edit `scene.synth_humans` (`props.SYNTHHUMANS_PG_settings`) of the spec's scene;
while the window shows the generator's preview scene, that is the scene the preview was
started from.
"""
from __future__ import annotations

import bpy

# The generator's own scene (blender/scene.py); the preview shows it in the window.
GENERATOR_SCENE = "synth_humans"


def home_scene(context):
    """The scene that holds the spec: the current one, or, while the window shows the
    generator's preview scene, the scene the preview was started from."""
    scene = context.scene
    if scene.name == GENERATOR_SCENE:
        home = bpy.data.scenes.get(context.window_manager.synth_humans_home)
        if home is not None:
            return home
    return scene


def settings(context):
    """The `SYNTHHUMANS_PG_settings` of the spec's scene."""
    return home_scene(context).synth_humans
