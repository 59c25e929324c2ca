"""synth-humans: a Blender extension that generates labelled images of random people.

Outside Blender this package is plain Python: `synth_humans_addon.core` (spec, sampling,
geometry, framing, dataset format) and `synth_humans_addon.shapes` (the meshes of clothes,
hair, accessories and structures) never import `bpy`, so the farm, the trainers and the
Blender-free tests use them too. Only `blender/` and `ui/` need Blender.
Inside Blender, `register()` loads the panels, operators and preferences (imported lazily,
so that importing the package never requires Blender). Installed from the extension zip
(`scripts/build_extension.py`) the package is loaded as ``bl_ext.<repo>.synth_humans``:
every import inside it is relative.
"""


def register():
    import bpy

    from . import preferences
    from .ui import register as register_ui

    for cls in preferences.CLASSES:
        bpy.utils.register_class(cls)
    prefs = preferences.preferences()
    if prefs is not None and prefs.asset_python_path:
        preferences.apply_asset_path(prefs.asset_python_path)
    register_ui()


def unregister():
    import bpy

    from . import preferences
    from .ui import unregister as unregister_ui

    unregister_ui()
    for cls in reversed(preferences.CLASSES):
        bpy.utils.unregister_class(cls)
