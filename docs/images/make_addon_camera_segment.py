"""Renders docs/images/addon_camera_segment.png: the camera segment the Camera panel draws
(`ui/hemisphere.py: segment_geometry`), seen from outside, with the cameras sampled for the first
three characters of the `default` preset (blue) and the first character built by the
"New Character" operator.  Run from the repository root: .venv/bin/python docs/images/make_addon_camera_segment.py
"""
import sys

import bpy  # first: bmesh and mathutils come with it
import bmesh  # noqa: I001
from mathutils import Vector

sys.path.insert(0, ".")
import synth_humans_addon as addon  # noqa: E402
from synth_humans_addon.core.geometry import spherical_to_cartesian  # noqa: E402
from synth_humans_addon.core.sampling import expand_character  # noqa: E402
from synth_humans_addon.ui.hemisphere import TARGET_HEIGHT_M, segment_geometry  # noqa: E402
from synth_humans_addon.ui.state import current_spec  # noqa: E402


def emission(name, rgb, strength):
    mat = bpy.data.materials.new(name)
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Emission Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Emission Strength"].default_value = strength
    return mat


def add(scene, name, mesh, location=(0, 0, 0)):
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    scene.collection.objects.link(obj)
    return obj


addon.register()
bpy.ops.synth_humans.load_preset(preset="default")
bpy.ops.synth_humans.new_character()
spec = current_spec(bpy.context)
scene = bpy.data.scenes["synth_humans"]
for o in scene.objects:
    if o.name.startswith("sh_room"):
        o.hide_render = True  # look in from outside the room

cam = spec.camera
A, T = 36, 6
verts, _ = segment_geometry(cam.radius, cam.theta1_deg, cam.theta2_deg, azimuth_steps=A, theta_steps=T)
faces = [(i * A + j, i * A + (j + 1) % A, (i + 1) * A + (j + 1) % A, (i + 1) * A + j) for i in range(T) for j in range(A)]
mesh = bpy.data.meshes.new("doc_segment")
mesh.from_pydata(verts, [], faces)
mesh.materials.append(emission("doc_orange", (1.0, 0.45, 0.05), 3.0))
add(scene, "doc_segment", mesh).modifiers.new("wire", "WIREFRAME").thickness = 0.03
floor = bpy.data.meshes.new("doc_floor")
floor.from_pydata([(-9, -9, 0), (9, -9, 0), (9, 9, 0), (-9, 9, 0)], [], [(0, 1, 2, 3)])
add(scene, "doc_floor", floor)

blue = emission("doc_blue", (0.1, 0.4, 1.0), 4.0)
for index in range(3):
    for image in expand_character(spec, index).images:
        me = bpy.data.meshes.new("doc_cam")
        bm = bmesh.new()
        bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=0.15)
        bm.to_mesh(me)
        bm.free()
        me.materials.append(blue)
        c = image.camera
        eye = spherical_to_cartesian(c.azimuth_deg, c.theta_deg, c.radius) + (0.0, 0.0, TARGET_HEIGHT_M)
        add(scene, "doc_cam", me, tuple(eye))

view = add(scene, "doc_view", bpy.data.cameras.new("doc_view"), (10.5, -12.5, 8.5))
view.data.lens = 30
view.rotation_euler = (Vector((0, 0, 1.2)) - view.location).to_track_quat("-Z", "Y").to_euler()
scene.camera = view
r = scene.render
r.use_border = r.use_crop_to_border = False
r.resolution_x, r.resolution_y, r.resolution_percentage = 800, 500, 100
scene.cycles.samples = 16
bpy.ops.render.render(scene=scene.name)
bpy.data.images["Render Result"].save_render("docs/images/addon_camera_segment.png", scene=scene)
addon.unregister()
