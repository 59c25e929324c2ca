"""bpy render tests: every fabric pattern shows up in Cycles, and a dressed body shows its clothes."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synth_humans_addon.blender import materials as MAT  # noqa: E402
from synth_humans_addon.blender.skinned_mesh import mesh_object  # noqa: E402
from synth_humans_addon.core.sampling import GarmentSample  # noqa: E402
from synth_humans_addon.core.spec import TEXTURE_KINDS  # noqa: E402

pytestmark = pytest.mark.blender


def _render(scene, path, size):
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    img = bpy.data.images.load(str(path))
    px = np.array(img.pixels[:], dtype=np.float32).reshape(size[1], size[0], 4)[::-1]
    bpy.data.images.remove(img)
    return px


def _camera(scene, location, rotation, ortho_scale):
    cam = bpy.data.objects.new("t_cam", bpy.data.cameras.new("t_cam"))
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = ortho_scale
    cam.location, cam.rotation_euler = location, rotation
    scene.collection.objects.link(cam)
    scene.camera = cam
    return cam


@pytest.fixture
def swatch_scene():
    """A 40 cm fabric swatch facing a camera under a uniform white sky (Cycles, 16 samples)."""
    scene = bpy.data.scenes.new("t_swatch")
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 16
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("t_world")
    world.color = (1.0, 1.0, 1.0)
    scene.world = world
    if world.node_tree is not None:
        world.node_tree.nodes["Background"].inputs["Color"].default_value = (1, 1, 1, 1)
    # In the x-z plane (facing −y, like a garment's front), centred at chest height.
    v = np.array([[-0.2, 0, 1.0], [0.2, 0, 1.0], [0.2, 0, 1.4], [-0.2, 0, 1.4]])
    swatch = mesh_object("t_swatch", v, np.array([[0, 1, 2, 3]]), scene.collection)
    cam = _camera(scene, (0, -2, 1.2), (np.pi / 2, 0, 0), 0.36)
    yield scene, swatch
    for obj in (swatch, cam):
        data = obj.data
        bpy.data.objects.remove(obj)
        (bpy.data.meshes if isinstance(data, bpy.types.Mesh) else bpy.data.cameras).remove(data)
    bpy.data.worlds.remove(world)
    bpy.data.scenes.remove(scene)


@pytest.mark.slow
def test_every_texture_kind_renders_its_pattern(swatch_scene, tmp_path):
    scene, swatch = swatch_scene
    spread = {}
    for kind in TEXTURE_KINDS:
        g = GarmentSample(kind="tshirt", palette="custom", color="#1f2a44", texture=kind, secondary_color="#d9d7d0",
                          texture_scale=1.0, texture_rotation_deg=30.0, seed=12345)
        mat = MAT.garment_material(g)
        swatch.data.materials.clear()
        swatch.data.materials.append(mat)
        px = _render(scene, tmp_path / f"{kind}.png", (32, 32))
        lum = px[..., :3].mean(axis=2)
        spread[kind] = float(np.percentile(lum, 95) - np.percentile(lum, 5))
        MAT.remove_materials([mat])
    assert spread["solid"] < 0.03, spread
    # Two-colour patterns: both colours show (navy vs off-white differ by far more than 0.2).
    for kind in ("stripes", "checks", "plaid", "dots", "camouflage"):
        assert spread[kind] > 0.2, (kind, spread)
    # Subtle weaves still vary (twill, ribs, mottling), but less.
    for kind in ("noise", "denim", "knit"):
        assert spread[kind] > 0.05, (kind, spread)


def test_pattern_follows_the_rest_position_not_the_pose(swatch_scene, tmp_path):
    """Moving the object does not move the stripes across it: they are bound to `rest_co`."""
    scene, swatch = swatch_scene
    g = GarmentSample(kind="tshirt", palette="custom", color="#101010", texture="stripes",
                      secondary_color="#f0f0f0", texture_scale=2.0, texture_rotation_deg=0.0, seed=1)
    mat = MAT.garment_material(g)
    swatch.data.materials.append(mat)
    a = _render(scene, tmp_path / "a.png", (24, 24))
    swatch.location.z += 0.03  # about a third of a stripe period
    scene.camera.location.z += 0.03  # the camera follows: same view of the swatch
    b = _render(scene, tmp_path / "b.png", (24, 24))
    MAT.remove_materials([mat])
    assert np.abs(a - b).mean() < 0.02


def test_dressed_body_shows_its_clothes_in_a_flat_render(tmp_path):
    """Front view, flat colours: the chest is the top's colour, the thighs the trousers'."""
    from synth_humans_addon.blender import body as B
    from synth_humans_addon.blender import clothes as C
    from synth_humans_addon.core import presets, sampling
    from synth_humans_addon.core.mpfb.phenotype import Phenotype
    from synth_humans_addon.shapes.garment_regions import landmarks
    from synth_humans_addon.core.palettes import hex_to_srgb

    spec = presets.preset("IV-realistic")
    ch = sampling.expand_character(spec, 2)
    red, blue = "#c01010", "#1030c0"
    ch.top = GarmentSample("longsleeve", "custom", red, "solid", red, 1.0, 0.0, 1)
    ch.bottom = GarmentSample("trousers", "custom", blue, "solid", blue, 1.0, 0.0, 2)
    ch.accessories = []
    scene = bpy.data.scenes.new("t_flat")
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "MATERIAL"
    scene.view_settings.view_transform = "Standard"
    coll = bpy.data.collections.new("t_flat_person")
    scene.collection.children.link(coll)
    build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, collection=coll, name="t_flat")
    outfit = C.dress(build, ch)
    try:
        lm = landmarks(build.verts)
        height = build.height
        cam = _camera(scene, (0, -4, height / 2), (np.pi / 2, 0, 0), height * 1.1)
        w, h = 60, 120
        px = _render(scene, tmp_path / "flat.png", (w, h))

        def at(z, x=0.0):  # pixel of a world point on the camera's plane
            col = int(round((x / (height * 1.1 * w / h) + 0.5) * (w - 1)))
            row = int(round((0.5 - (z - height / 2) / (height * 1.1)) * (h - 1)))
            return px[row, col, :3]

        def close(c, hexc):  # Workbench writes display (sRGB) values
            return np.abs(np.asarray(c) - np.asarray(hex_to_srgb(hexc))).max() < 0.06

        chest = at(lm.chest)
        thigh = at(0.5 * (lm.crotch + lm.knee), x=0.5 * (build.joints["joint-l-knee"][0] + build.joints["joint-l-upper-leg"][0]))
        assert close(chest, red), chest
        assert close(thigh, blue), thigh
        cam_data = cam.data
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(cam_data)
    finally:
        C.remove_outfit(outfit)
        B.remove_body(build)
        bpy.data.collections.remove(coll)
        bpy.data.scenes.remove(scene)
