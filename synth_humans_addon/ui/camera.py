"""Camera panel: R, θ1, θ2, lens; and the hemisphere segment drawn in the viewport.

The segment is a wireframe mesh object ("SH_camera_segment", never rendered) rather than a
`gpu` overlay: it shows in every viewport, in the camera view and in files, and it exists
in background mode, so tests can check its geometry. It is rebuilt in place whenever an
accepted edit changes the spec, centred on the character's mid-height as in `core.geometry`.
"""
from __future__ import annotations

import math

import bpy

from ..core import geometry
from .state import ensure_initialized, settings
from .tables import draw_error, draw_range

SEGMENT_NAME = "SH_camera_segment"
# Mid-height of an average person: the point the camera hemisphere is centred on.
TARGET_HEIGHT_M = 0.9
AZIMUTH_STEPS = 48
THETA_STEPS = 8


def segment_geometry(radius: float, theta1_deg: float, theta2_deg: float, target_height: float = TARGET_HEIGHT_M,
                     azimuth_steps: int = AZIMUTH_STEPS, theta_steps: int = THETA_STEPS):
    """Vertices and edges of a wire grid on the sphere between θ1 and θ2 (all azimuths)."""
    verts, edges = [], []
    rings = theta_steps + 1
    for i in range(rings):
        theta = theta1_deg + (theta2_deg - theta1_deg) * i / theta_steps
        for j in range(azimuth_steps):
            p = geometry.spherical_to_cartesian(360.0 * j / azimuth_steps, theta, radius)
            verts.append((float(p[0]), float(p[1]), float(p[2]) + target_height))
    for i in range(rings):
        for j in range(azimuth_steps):
            a = i * azimuth_steps + j
            edges.append((a, i * azimuth_steps + (j + 1) % azimuth_steps))  # along the ring
            if i + 1 < rings and j % 4 == 0:  # meridians every 4 steps keep the wireframe light
                edges.append((a, a + azimuth_steps))
    return verts, edges


def update_hemisphere(context) -> None:
    """Create, rebuild or hide the segment object to match the spec in the panels."""
    scene = context.scene
    if not hasattr(scene, "synth_humans"):
        return
    s = settings(context)
    obj = bpy.data.objects.get(SEGMENT_NAME)
    if not s.initialized or not s.show_hemisphere:
        if obj is not None:
            obj.hide_viewport = True
        return
    cam = s.spec.camera
    theta1, theta2 = sorted((cam.theta1_deg, cam.theta2_deg))
    verts, edges = segment_geometry(max(cam.radius, 1e-3), theta1, max(theta2, theta1 + 1e-3))
    if obj is None:
        mesh = bpy.data.meshes.new(SEGMENT_NAME)
        obj = bpy.data.objects.new(SEGMENT_NAME, mesh)
    mesh = obj.data
    mesh.clear_geometry()
    mesh.from_pydata(verts, edges, [])
    mesh.update()
    obj.display_type = "WIRE"
    obj.hide_render = True  # a guide only: never in a rendered image or mask
    obj.hide_select = True
    obj.hide_viewport = False
    obj.pass_index = 0
    for target in (scene, bpy.data.scenes.get("synth_humans")):
        if target is not None and obj.name not in target.collection.objects:
            target.collection.objects.link(obj)


class SYNTHHUMANS_OT_update_segment(bpy.types.Operator):
    """Redraw the camera hemisphere segment in the viewport from R, θ1 and θ2"""

    bl_idname = "synth_humans.update_segment"
    bl_label = "Show Camera Segment"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        ensure_initialized(context)
        s = settings(context)
        s.show_hemisphere = True
        update_hemisphere(context)
        cam = s.spec.camera
        area = 2 * math.pi * cam.radius ** 2 * (math.cos(math.radians(cam.theta1_deg)) -
                                                math.cos(math.radians(cam.theta2_deg)))
        self.report({"INFO"}, f"camera segment: R {cam.radius:g} m, θ {cam.theta1_deg:g}°–{cam.theta2_deg:g}°, "
                              f"{area:.1f} m²")
        return {"FINISHED"}


def ready_settings(layout, context):
    """The add-on's settings, or None (with a hint drawn) before a preset was loaded."""
    s = settings(context)
    if not s.initialized:
        layout.label(text="Load a preset in the Dataset panel first")
        return None
    return s


class SynthHumansPanel:
    """Common placement: 3D viewport sidebar, tab "Synth Humans"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Synth Humans"

    @classmethod
    def poll(cls, context):
        return hasattr(context.scene, "synth_humans")


class SYNTHHUMANS_PT_camera(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Camera"
    bl_order = 2
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        s = ready_settings(layout, context)
        if s is None:
            return
        cam = s.spec.camera
        layout.use_property_split = True
        col = layout.column(align=True)
        col.prop(cam, "radius")
        col.prop(cam, "theta1_deg")
        col.prop(cam, "theta2_deg")
        col = layout.column(align=True)
        col.prop(cam, "focal_length_mm")
        col.prop(cam, "sensor_width_mm")
        col.prop(cam, "aim_jitter_deg")
        col.prop(cam, "radius_jitter")
        box = s.spec.box  # detector-like crops
        for name in ("scale", "aspect", "shift_x", "shift_y", "truncate_fraction"):
            draw_range(layout, box, name)
        col = layout.column(align=True)
        col.prop(box, "truncate_head", slider=True)
        col.prop(box, "truncate_feet", slider=True)
        col.prop(box, "output_aspect")
        layout.prop(s, "show_hemisphere")
        layout.operator(SYNTHHUMANS_OT_update_segment.bl_idname, icon="SPHERE")
        draw_error(layout, context)


CLASSES = (SYNTHHUMANS_OT_update_segment, SYNTHHUMANS_PT_camera)
