"""synth-humans: a Blender extension that generates labelled images of random people.

Outside Blender this package is plain Python: `synth_humans_addon.core` (spec, sampling,
geometry, dataset format) never imports `bpy`, so the farm and the trainers use it too.
Inside Blender, `register()` loads the panels and operators (imported lazily, so that
importing the package never requires Blender).
"""


def register():
    from .ui import register as _register

    _register()


def unregister():
    from .ui import unregister as _unregister

    _unregister()
