"""The hemisphere segment where cameras can be, drawn in the viewport as a wireframe.

The segment is a wireframe mesh object ("SH_camera_segment", never rendered) rather than a
`gpu` overlay: it shows in every viewport, in the camera view and in files, and it exists
in background mode, so tests can check its geometry. It is rebuilt in place whenever an
accepted edit changes the spec (`state.on_spec_edited`), centred on the character's
mid-height as in `core.geometry`.
"""
from __future__ import annotations

import bpy

from ..core import geometry
from .scene_settings import settings

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
