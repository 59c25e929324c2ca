"""The add-on's user interface: panels in the 3D viewport sidebar (tab "Synth Humans").

One module per panel with its operators beside it: dataset, characters, camera,
background, render, preview, generate; `base` holds what they share (placement, the
preamble, `prop_column`). `props` generates the property groups from the spec dataclasses;
`state` accepts or refuses each edit with the spec validation's messages.
"""
from __future__ import annotations

# bpy is imported inside the functions, so importing the package never requires Blender.


def _modules():
    from . import background, camera, characters, dataset, generate, preview, props, render, tables

    return props, tables, dataset, characters, camera, background, render, preview, generate


def classes() -> list[type]:
    out: list[type] = []
    for module in _modules():
        out.extend(module.CLASSES)
    return out


def register() -> None:
    import bpy

    from . import generate, props

    for cls in classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.synth_humans = bpy.props.PointerProperty(
        type=props.SYNTHHUMANS_PG_settings, name="Synth Humans", description="Dataset spec and add-on state")
    bpy.types.WindowManager.synth_humans_home = bpy.props.StringProperty(
        name="Spec Scene", description="Scene whose Synth Humans settings the preview scene shows")
    generate.register_status_bar()


def unregister() -> None:
    import bpy

    from . import generate, preview

    generate.unregister_status_bar()
    generate.stop_all()
    preview.close_all()
    del bpy.types.WindowManager.synth_humans_home
    del bpy.types.Scene.synth_humans
    for cls in reversed(classes()):
        bpy.utils.unregister_class(cls)
