"""Real renders through bpy: crops, masks, keypoints, determinism, memory hygiene, bad input.

Images are tiny (crop height 80 px, 2 samples) to keep the suite fast on 2 cores.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.util

import numpy as np
import pytest

pytestmark = [pytest.mark.blender, pytest.mark.slow]
# bpy is imported inside the tests only: collecting this file in the Blender-free session
# (`-m "not blender"`) must not import it.
if importlib.util.find_spec("bpy") is None:
    pytest.skip("needs the bpy module", allow_module_level=True)

from synth_humans_addon.core import geometry, postprocess, presets, sampling  # noqa: E402
from synth_humans_addon.core.spec import Range  # noqa: E402

CROP_HEIGHT = 80


def _spec(kind: str = "cubemap"):
    spec = presets.preset("tiny")
    spec.render.crop_height = CROP_HEIGHT
    spec.render.samples = 2
    spec.render.threads = 2
    spec.background.kind = kind
    spec.postprocess.downscale = Range(1.0, 1.0)
    return spec


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    import os

    old = os.environ.get("SYNTH_HUMANS_CACHE")
    os.environ["SYNTH_HUMANS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SYNTH_HUMANS_CACHE", None)
    else:
        os.environ["SYNTH_HUMANS_CACHE"] = old


@pytest.fixture(scope="module")
def session(cache):
    from synth_humans_addon.blender.job import RenderSession

    spec = _spec()
    s = RenderSession(spec)
    s.load_character(sampling.expand_character(spec, 0))
    yield s
    s.close()


def _decode(rendered):
    return postprocess.decode_image(rendered.image), postprocess.decode_image(rendered.mask)


def _person_vertices(session):
    depsgraph = session.scene.view_layers[0].depsgraph
    depsgraph.update()
    pts = []
    for obj in session.loaded.build.person_objects():
        ev = obj.evaluated_get(depsgraph)
        mesh = ev.to_mesh()
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        mw = np.array(ev.matrix_world)
        pts.append(co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3])
        ev.to_mesh_clear()
    return np.concatenate(pts)


def test_crop_has_spec_height_and_contains_whole_projected_body(session):
    for image in session.loaded.character.images:
        prepared = session.prepare_image(image)
        rendered = session.render_prepared(prepared)
        rgb, mask = _decode(rendered)
        plan = prepared.crop.plan
        assert rgb.shape[:2] == mask.shape == (CROP_HEIGHT, plan.width)
        assert 0.2 < plan.width / CROP_HEIGHT < 1.2  # a person's aspect ratio, not the frame's
        # every vertex of body, clothes, hair and accessories projects inside the crop
        intr = geometry.Intrinsics(image.camera.focal_length_mm, image.camera.sensor_width_mm,
                                   plan.frame_width, plan.frame_height)
        proj = geometry.project_points(_person_vertices(session), prepared.crop.cam_to_world, intr)
        assert np.all(proj[:, 2] > 0)
        assert proj[:, 0].min() >= plan.x0 - 0.5 and proj[:, 0].max() <= plan.x1 + 0.5
        assert proj[:, 1].min() >= plan.y0 - 0.5 and proj[:, 1].max() <= plan.y1 + 0.5
        # the person fills most of the crop height (the 8-corner box is a bit looser than the silhouette)
        rows = np.flatnonzero(mask.max(axis=1) > 127)
        assert rows[-1] - rows[0] > 0.6 * CROP_HEIGHT
        assert rendered.info["bbox"] == [plan.x0, plan.y0, plan.x1, plan.y1]


def test_mask_matches_rendered_alpha(session, tmp_path):
    """Render the same image once more with a transparent film and the room hidden: the alpha
    is exactly the person's coverage, and the index-pass mask must agree with it."""
    import bpy

    image = session.loaded.character.images[0]
    rendered = session.render_image(image)
    _, mask = _decode(rendered)
    scene = session.scene
    room_objects = session.loaded.room.objects
    try:
        for o in room_objects:
            o.hide_render = True
        scene.render.film_transparent = True
        scene.render.image_settings.color_mode = "RGBA"
        bpy.ops.render.render(write_still=False, scene=scene.name)
        path = tmp_path / "alpha.png"
        bpy.data.images["Render Result"].save_render(str(path), scene=scene)
    finally:
        for o in room_objects:
            o.hide_render = False
        scene.render.film_transparent = False
    from PIL import Image

    alpha = np.asarray(Image.open(path).convert("RGBA"))[..., 3]
    assert alpha.shape == mask.shape
    a, m = alpha > 127, mask > 127
    iou = (a & m).sum() / (a | m).sum()
    assert iou > 0.98, iou  # Cryptomatte coverage is the alpha, up to sampling noise
    assert np.abs(alpha.astype(int) - mask.astype(int)).mean() < 3


def test_same_sample_renders_same_bytes(session):
    image = session.loaded.character.images[1]
    a = session.render_image(image)
    session.render_image(session.loaded.character.images[0])  # something else in between
    b = session.render_image(image)
    assert a.image == b.image and a.mask == b.mask
    assert a.info["keypoints"] == b.info["keypoints"]


def test_keypoints_in_crop_and_anatomically_ordered(session):
    rendered = session.render_image(session.loaded.character.images[0])
    kp = rendered.info["keypoints"]
    assert {"head", "left_ankle", "right_ankle", "left_hip", "right_wrist"} <= set(kp)
    w, h = rendered.info["crop_size"]
    visible = [v for v in kp.values() if v[2]]
    assert len(visible) >= 5
    assert all(0 <= x < w and 0 <= y < h for x, y, _ in visible)
    assert kp["head"][1] < kp["left_hip"][1] < kp["left_ankle"][1]  # image y grows downwards


def test_datablocks_return_to_baseline_between_characters(session):
    from synth_humans_addon.blender import scene as scene_mod

    spec = session.spec
    session.unload_character()
    baseline = scene_mod.datablock_counts()
    for index in (1, 2):
        session.render_character(sampling.expand_character(spec, index))
        assert scene_mod.datablock_counts() == baseline
    session.load_character(sampling.expand_character(spec, 0))  # restore for other tests


def test_rerender_after_reload_is_identical(session):
    image = session.loaded.character.images[2]
    a = session.render_image(image)
    session.load_character(session.loaded.character)
    b = session.render_image(image)
    assert a.image == b.image


def test_character_out_of_frame_is_refused(session):
    from synth_humans_addon.core.geometry import CharacterOutOfFrame

    image = copy.deepcopy(session.loaded.character.images[0])
    image.camera = dataclasses.replace(image.camera, radius=0.05)  # camera inside the person's box
    with pytest.raises(CharacterOutOfFrame):
        session.prepare_image(image)


def test_large_aim_error_is_reaimed_not_cropped_off(session):
    image = copy.deepcopy(session.loaded.character.images[0])
    image.camera = dataclasses.replace(image.camera, yaw_jitter_deg=40.0)
    rendered = session.render_image(image)
    assert rendered.info["camera_reaimed"] is True
    _, mask = _decode(rendered)
    assert (mask > 127).mean() > 0.15


def test_black_render_is_an_error_not_an_image(cache):
    """No light at all and black walls: the job raises instead of saving a black image."""
    from synth_humans_addon.blender.job import RenderSession
    from synth_humans_addon.core.renderer import BlankRenderError

    spec = _spec("fixed")
    spec.background.colors = ["#000000"]
    spec.lighting.strength = Range(0.0, 0.0)
    spec.lighting.world_strength = Range(0.0, 0.0)
    with RenderSession(spec) as s:
        with pytest.raises(BlankRenderError, match="black"):
            s.render_character(sampling.expand_character(spec, 0))


def test_missing_cubemap_face_is_a_clear_error(cache, tmp_path):
    from PIL import Image

    from synth_humans_addon.blender.job import RenderSession
    from synth_humans_addon.core.cubemaps import CubemapError

    folder = tmp_path / "my_cubemap"
    folder.mkdir()
    for face in ("posx", "negx", "posy", "negy", "posz"):  # negz missing
        Image.new("RGB", (16, 16), (120, 130, 140)).save(folder / f"{face}.png")
    spec = _spec()
    character = sampling.expand_character(spec, 0)
    character.background = dataclasses.replace(character.background, source=str(folder))
    with RenderSession(spec) as s:
        with pytest.raises(CubemapError, match="negz"):
            s.load_character(character)
        (folder / "negz.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        with pytest.raises(CubemapError, match="negz.png"):
            s.load_character(character)
        Image.new("RGB", (16, 16), (120, 130, 140)).save(folder / "negz.png")
        rendered = s.render_character(character)  # a repaired folder renders
        assert len(rendered) == len(character.images)


def test_varied_room_and_colour_rooms_render(cache):
    from synth_humans_addon.blender.job import render_character

    spec = _spec("varied")
    character = sampling.expand_character(spec, 3)
    images = render_character(spec, character)
    rgb, mask = _decode(images[0])
    assert rgb.std() > 5 and (mask > 127).any()


BAD_BVH = """HIERARCHY
ROOT Gizmo
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Widget
  {
    OFFSET 0.0 10.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 5.0 0.0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.033333
0 0 0 0 0 0 0 0 0
0 0 0 10 0 0 5 0 0
"""


def test_bvh_that_does_not_map_to_the_rig_falls_back_to_standing_and_says_so(session, tmp_path):
    """Documented fallback: a BVH whose bones match no rig bone renders standing, and the
    image metadata names the problem (`pose_fallback`) instead of failing the worker."""
    bvh = tmp_path / "gizmo.bvh"
    bvh.write_text(BAD_BVH)
    character = copy.deepcopy(session.loaded.character)
    character.pose = dataclasses.replace(character.pose, source="bvh", bvh_file=str(bvh))
    try:
        session.load_character(character)
        rendered = session.render_image(character.images[0])
    finally:
        session.load_character(sampling.expand_character(session.spec, 0))
    assert rendered.info["pose_source"] == "standing"
    assert rendered.info["pose_fallback"].startswith("bvh failed:")
    _, mask = _decode(rendered)
    assert (mask > 127).mean() > 0.15  # still a person, not an empty image


def test_index_pass_mask_agrees_with_cryptomatte_mask(session):
    """The alternative mask source (ID Mask of the object index pass) covers the same person;
    its anti-aliasing erodes edges by up to a pixel, hence the lower bound at 80 px."""
    from synth_humans_addon.blender.job import RenderSession

    assert session.mask_source == "cryptomatte"
    image = session.loaded.character.images[0]
    _, crypto_mask = _decode(session.render_image(image))
    with RenderSession(session.spec, mask_source="index") as other:
        other.load_character(session.loaded.character)
        _, index_mask = _decode(other.render_image(image))
    a, b = index_mask > 127, crypto_mask > 127
    assert a.shape == b.shape
    assert (a & b).sum() / (a | b).sum() > 0.9
    assert (a & ~b).sum() <= 0.02 * a.sum()  # the index mask adds (almost) nothing outside


def test_equirectangular_world_renders(cache, tmp_path):
    from PIL import Image

    from synth_humans_addon.blender.job import render_character

    pano = np.zeros((64, 128, 3), np.uint8)
    pano[:32] = (150, 180, 220)  # sky
    pano[32:] = (90, 80, 70)  # ground
    path = tmp_path / "pano.png"
    Image.fromarray(pano).save(path)
    spec = _spec("equirectangular")
    spec.background.equirectangular = [str(path)]
    character = sampling.expand_character(spec, 1)
    rgb, mask = _decode(render_character(spec, character)[0])
    background = rgb[mask < 10]
    assert len(background) > 0 and background.mean() > 20  # the panorama shows behind the person


def test_preview_navigator_steps_through_images_and_characters(cache):
    """The add-on operators' state: build, sample camera, compute crop, render, next/previous."""
    from synth_humans_addon.blender.job import PreviewNavigator

    spec = _spec()
    nav = PreviewNavigator(spec)
    try:
        nav.build(0)
        plan = nav.compute_crop()
        assert plan.height == CROP_HEIGHT
        first = nav.render()
        nav.step(+1)
        assert (nav.character_index, nav.image_index) == (0, 1)
        nav.step(-1)
        assert nav.render().image == first.image  # back to the same image, same bytes
        for _ in range(len(nav.character.images)):
            nav.step(+1)
        assert (nav.character_index, nav.image_index) == (1, 0)
        nav.step(-1)
        assert (nav.character_index, nav.image_index) == (0, len(nav.character.images) - 1)
    finally:
        nav.close()


def test_character_renderer_reuses_its_session_and_matches_render_character(cache):
    from synth_humans_addon.blender.job import CharacterRenderer, render_character

    spec = _spec("varied")
    renderer = CharacterRenderer()
    try:
        a = renderer(spec, sampling.expand_character(spec, 1))
        session = renderer._session
        renderer(spec, sampling.expand_character(spec, 2))
        assert renderer._session is session  # same spec: same session
    finally:
        renderer.close()
    b = render_character(spec, sampling.expand_character(spec, 1))
    assert [r.image for r in a] == [r.image for r in b]  # a fresh session gives the same bytes
