"""Preview panel: build one character, sample a camera, show the crop, render one image,
show its mask beside it, and step through the expanded samples deterministically.

The operators are thin: the work is `blender.job.PreviewNavigator` (the farm's own render
path), which builds into the generator's scene "synth_humans"; with a window, the preview
switches the window to that scene (the panels keep showing the spec of the scene it came
from) and the viewport to the camera view with the render border.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core import spec as S
from ..core.spec_io import spec_fingerprint, spec_to_dict
from .base import SynthHumansPanel, draws_settings
from .hemisphere import update_hemisphere
from .scene_settings import home_scene, settings
from .state import current_spec

RENDER_IMAGE = "SH Preview Render"
MASK_IMAGE = "SH Preview Mask"
SIDE_BY_SIDE_IMAGE = "SH Preview Render + Mask"


@dataclass
class PreviewState:
    navigator: Any  # blender.job.PreviewNavigator
    spec_key: tuple[str, str]  # the spec it was made for (`spec_key`): a changed spec starts a new navigator
    last: Any = None  # the last RenderedImage


# Python objects cannot live in Blender datablocks: one navigator per spec scene, per process.
_PREVIEWS: dict[str, PreviewState] = {}


def close_all() -> None:
    for state in _PREVIEWS.values():
        _close(state)
    _PREVIEWS.clear()


def _alive(state: PreviewState) -> bool:
    """False once the generator's scene was deleted by hand (or by another session)."""
    try:
        return state.navigator.session.scene.name in bpy.data.scenes
    except ReferenceError:
        return False


def _close(state: PreviewState) -> None:
    if _alive(state):
        state.navigator.close()


def _spec_key(spec: Any) -> tuple[str, str]:
    """The spec's fingerprint and its folder: relative cubemap and BVH paths resolve against
    the folder, so a spec moved elsewhere renders differently here."""
    return spec_fingerprint(spec_to_dict(spec)), spec.base_dir


def _navigator(context, create: bool = True) -> PreviewState:
    from ..blender.job import PreviewNavigator

    spec = current_spec(context)
    key = home_scene(context).name
    spec_key = _spec_key(spec)
    state = _PREVIEWS.get(key)
    if state is not None and state.spec_key == spec_key and _alive(state):
        return state
    if state is not None:
        _close(state)
        del _PREVIEWS[key]
    if not create:
        raise LookupError("no preview yet: press 'New Character' first")
    state = PreviewState(PreviewNavigator(spec), spec_key)
    _PREVIEWS[key] = state
    return state


def _show(context, state: PreviewState) -> None:
    """Record where the preview is, link the camera segment, and show the scene in the window."""
    s = settings(context)
    nav = state.navigator
    s.preview_character, s.preview_image = max(nav.character_index, 0), nav.image_index
    c = nav.character
    if c is not None:
        parts = [f"#{c.pid:04d} ({c.split})"] + [g.kind for g in (c.top, c.bottom, c.shoes) if g] + \
                ([f"{c.hair.style} hair"] if c.hair else []) + [a.kind for a in c.accessories]
        im = c.images[nav.image_index]
        s.preview_info = f"{', '.join(parts)} · image {im.k} cam {im.camera_id} ({im.subset})"
    gen_scene = nav.session.scene
    gen_scene.camera = nav.session.camera
    window = context.window
    if window is not None and window.scene != gen_scene:
        context.window_manager.synth_humans_home = home_scene(context).name
        window.scene = gen_scene
    update_hemisphere(context)


def _camera_view(context) -> None:
    """Look through the camera in every 3D viewport (the render border shows the crop)."""
    screen = context.window.screen if context.window else None
    for area in (screen.areas if screen else ()):
        if area.type == "VIEW_3D":
            area.spaces.active.region_3d.view_perspective = "CAMERA"
            area.spaces.active.shading.type = "MATERIAL"


class _PreviewOperator(bpy.types.Operator):
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            message = self.run(context)
        except S.SpecError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # a failed build/render is shown, the session stays usable
            self.report({"ERROR"}, f"{type(exc).__name__}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def run(self, context) -> str:
        raise NotImplementedError


class SYNTHHUMANS_OT_new_character(_PreviewOperator):
    """Build one character (body, clothes, hair, room) from the current spec, seed and character index"""

    bl_idname = "synth_humans.new_character"
    bl_label = "New Character"

    def run(self, context):
        s = settings(context)
        state = _navigator(context)
        index = min(s.preview_character, state.navigator.spec.dataset.characters - 1)
        state.navigator.build(index)
        state.navigator.sample_camera()
        state.last = None
        _show(context, state)
        return f"built character {s.preview_info}"


class SYNTHHUMANS_OT_sample_camera(_PreviewOperator):
    """Pose the character and place the camera of the current sample on the hemisphere segment"""

    bl_idname = "synth_humans.sample_camera"
    bl_label = "Sample Camera"

    def run(self, context):
        state = _navigator(context)
        if state.navigator.character is None:
            state.navigator.build(settings(context).preview_character)
        prepared = state.navigator.sample_camera()
        _show(context, state)
        cam = prepared.sample.camera
        return f"camera at azimuth {cam.azimuth_deg:.1f}°, θ {cam.theta_deg:.1f}°, R {cam.radius:.2f} m"


class SYNTHHUMANS_OT_show_crop(_PreviewOperator):
    """Show the person crop as the render border in the camera view"""

    bl_idname = "synth_humans.show_crop"
    bl_label = "Show Crop"

    def run(self, context):
        state = _navigator(context)
        plan = state.navigator.compute_crop()
        r = state.navigator.session.scene.render
        r.use_border = True  # drawn as a dashed frame in the camera view
        _show(context, state)
        _camera_view(context)
        return f"crop {plan.width}×{plan.height} px in a {plan.frame_width}×{plan.frame_height} frame"


def _image_from_bytes(name: str, data: bytes, suffix: str) -> bpy.types.Image:
    """A packed Blender image made from encoded bytes (replaces one of the same name)."""
    old = bpy.data.images.get(name)
    if old is not None:
        bpy.data.images.remove(old)
    with tempfile.TemporaryDirectory(prefix="synth_humans_preview_") as tmp:
        path = Path(tmp) / f"preview{suffix}"
        path.write_bytes(data)
        img = bpy.data.images.load(str(path))
        img.pack()
    img.name = name
    return img


def _pixels(img: bpy.types.Image) -> np.ndarray:
    w, h = img.size
    px = np.empty(w * h * 4, dtype=np.float32)
    img.pixels.foreach_get(px)
    return px.reshape(h, w, 4)


def side_by_side(render: bpy.types.Image, mask: bpy.types.Image) -> bpy.types.Image:
    """One image: the render on the left, its mask (grey) on the right, same height."""
    a, b = _pixels(render), _pixels(mask)
    h = max(a.shape[0], b.shape[0])
    out = np.zeros((h, a.shape[1] + b.shape[1], 4), dtype=np.float32)
    out[..., 3] = 1.0
    out[:a.shape[0], :a.shape[1]] = a
    out[:b.shape[0], a.shape[1]:] = b
    old = bpy.data.images.get(SIDE_BY_SIDE_IMAGE)
    if old is not None:
        bpy.data.images.remove(old)
    img = bpy.data.images.new(SIDE_BY_SIDE_IMAGE, out.shape[1], out.shape[0], alpha=False)
    img.pixels.foreach_set(out.ravel())
    img.pack()
    return img


def _render(context) -> PreviewState:
    state = _navigator(context)
    if state.navigator.character is None:
        state.navigator.build(settings(context).preview_character)
    state.last = state.navigator.render()
    _image_from_bytes(RENDER_IMAGE, state.last.image, ".jpg")
    _image_from_bytes(MASK_IMAGE, state.last.mask, ".png")
    _show(context, state)
    return state


def _show_in_image_editor(context, img) -> bool:
    screen = context.window.screen if context.window else None
    for area in (screen.areas if screen else ()):
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = img
            return True
    return False


class SYNTHHUMANS_OT_render_preview(_PreviewOperator):
    """Render the current sample exactly as the farm would (one crop, with its mask)"""

    bl_idname = "synth_humans.render_preview"
    bl_label = "Render Preview"

    def run(self, context):
        _render(context)
        img = bpy.data.images[RENDER_IMAGE]
        _show_in_image_editor(context, img)
        return f"rendered {img.size[0]}×{img.size[1]} px: image '{RENDER_IMAGE}'"


class SYNTHHUMANS_OT_show_mask(_PreviewOperator):
    """Show the person mask next to the render in an image editor (renders first if needed)"""

    bl_idname = "synth_humans.show_mask"
    bl_label = "Show Mask"

    def run(self, context):
        state = _PREVIEWS.get(home_scene(context).name)
        if state is None or state.last is None or RENDER_IMAGE not in bpy.data.images:
            state = _render(context)
        img = side_by_side(bpy.data.images[RENDER_IMAGE], bpy.data.images[MASK_IMAGE])
        where = "in the image editor" if _show_in_image_editor(context, img) else "(open it in an Image Editor)"
        return f"render and mask side by side: image '{SIDE_BY_SIDE_IMAGE}' {where}"


class _Step(_PreviewOperator):
    delta = 0

    def run(self, context):
        state = _navigator(context)
        state.navigator.step(self.delta)
        state.navigator.sample_camera()
        state.last = None
        _show(context, state)
        return settings(context).preview_info


class SYNTHHUMANS_OT_next_sample(_Step):
    """Go to the next image (then the next character) of the expanded dataset"""

    bl_idname = "synth_humans.next_sample"
    bl_label = "Next Sample"
    delta = 1


class SYNTHHUMANS_OT_previous_sample(_Step):
    """Go to the previous image (then the previous character) of the expanded dataset"""

    bl_idname = "synth_humans.previous_sample"
    bl_label = "Previous Sample"
    delta = -1


class SYNTHHUMANS_PT_preview(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Preview"
    bl_order = 5

    @draws_settings
    def draw(layout, s):
        layout.prop(s, "preview_character")
        layout.operator(SYNTHHUMANS_OT_new_character.bl_idname, icon="OUTLINER_OB_ARMATURE")
        row = layout.row(align=True)
        row.operator(SYNTHHUMANS_OT_previous_sample.bl_idname, text="", icon="TRIA_LEFT")
        row.operator(SYNTHHUMANS_OT_sample_camera.bl_idname, icon="CAMERA_DATA")
        row.operator(SYNTHHUMANS_OT_next_sample.bl_idname, text="", icon="TRIA_RIGHT")
        row = layout.row(align=True)
        row.operator(SYNTHHUMANS_OT_show_crop.bl_idname, icon="SELECT_SET")
        row.operator(SYNTHHUMANS_OT_show_mask.bl_idname, icon="MOD_MASK")
        layout.operator(SYNTHHUMANS_OT_render_preview.bl_idname, icon="RENDER_STILL")
        if s.preview_info:
            layout.label(text=s.preview_info)


CLASSES = (SYNTHHUMANS_OT_new_character, SYNTHHUMANS_OT_sample_camera, SYNTHHUMANS_OT_show_crop,
           SYNTHHUMANS_OT_render_preview, SYNTHHUMANS_OT_show_mask, SYNTHHUMANS_OT_next_sample,
           SYNTHHUMANS_OT_previous_sample, SYNTHHUMANS_PT_preview)
