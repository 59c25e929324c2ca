"""The per-character render job, shared by the farm's workers, the add-on operators and preview.

`RenderSession` owns the generator's scene for as long as a process renders: engine
settings, compositor outputs, camera and lights are made once. For each character it
builds room + character once, then per image only sets pose, camera, crop and light and
renders (with `background.per_image`, each image also gets its own room: `_room_for`). `unload_character` removes every datablock created for the character (tracked,
so nothing leaks even if a builder forgets something), so a worker can run for days.

The steps are separate methods so the add-on's operators can call them one by one:
`load_character` (build character + room), `prepare_image` (pose, sample camera, compute
crop, light), `render_prepared` (render one image); `PreviewNavigator` adds next/previous.

    from synth_humans_addon.blender.job import render_character
    images = render_character(spec, expand_character(spec, 0))   # list[RenderedImage]
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core import framing
from ..core.dataset import RenderedImage
from ..core.geometry import CharacterOutOfFrame, CropPlan
from ..core.renderer import BlankRenderError, Renderer, check_not_blank
from ..core.sampling import CharacterSample
from ..core.spec import Spec
from . import camera as camera_mod
from . import character as character_mod
from . import lights as lights_mod
from . import other_people as other_people_mod
from . import render as render_mod
from . import room as room_mod
from . import scene as scene_mod
from . import structures as structures_mod

# Datablocks that builders cache across characters on purpose (the body's template meshes).
KEEP_PREFIXES = ("SH_template_",)


@dataclass
class PreparedImage:
    """An image whose scene is set up (pose, camera, crop, light) and ready to render."""

    sample: Any  # ImageSample
    crop: framing.CropResult
    box: tuple[np.ndarray, np.ndarray]
    timer: render_mod.Timer
    crop_enabled: bool = True


@dataclass
class LoadedCharacter:
    character: Any
    build: character_mod.CharacterBuild
    room: room_mod.Room
    tracker: scene_mod.DatablockTracker
    setup_seconds: float = 0.0
    others: list = field(default_factory=list)  # (cards.Card, OtherPersonSample) of its other people
    room_background: Any = None  # the BackgroundSample `room` was built from
    extra: dict = field(default_factory=dict)


class RenderSession:
    """Renders characters of one spec in this Blender process (see module docstring)."""

    def __init__(self, spec: Any, workdir: Path | None = None, mask_source: str | None = None):
        self.spec = spec
        self.scene = scene_mod.new_scene()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="synth_humans_render_"))
        self.engine = scene_mod.configure_render(self.scene, spec.render)
        self.mask_source = mask_source or scene_mod.default_mask_source(self.engine.engine)
        self.outputs = scene_mod.setup_outputs(self.scene, self.workdir, mask_source=self.mask_source)
        self.camera = camera_mod.build_camera(self.scene)
        self.lights = lights_mod.build_lights(self.scene)
        self.people = other_people_mod.OtherPeople(spec, self.scene)  # kept across characters
        self.loaded: LoadedCharacter | None = None

    # -- characters ------------------------------------------------------------------

    def load_character(self, character: Any) -> LoadedCharacter:
        """Build the room and the character (once per character)."""
        self.unload_character()
        t0 = time.perf_counter()
        # Other people first, outside the tracker: the session keeps them for later characters.
        others = list(self.people.show(getattr(character, "others", [])))
        tracker = scene_mod.DatablockTracker()
        # With `background.per_image`, the first image's own room: no room built only to go.
        background = _own_background(character.images[0]) if character.images else None
        background = background or character.background
        try:
            room = room_mod.build_room(self.scene, background, self.spec)
            build = character_mod.build_character(self.spec, character, self.scene)
        except BaseException:
            _remove_tracked(tracker)
            raise
        if self.mask_source == "cryptomatte":
            scene_mod.set_mask_objects(self.scene, [o.name for o in build.person_objects()])
        self.loaded = LoadedCharacter(character, build, room, tracker, time.perf_counter() - t0, others=others,
                                      room_background=background)
        return self.loaded

    def _room_for(self, image: Any) -> Any:
        """The room `image` is seen in, rebuilt if it has its own (`background.per_image`);
        returns the BackgroundSample whose structures the room holds."""
        loaded = self.loaded
        own = _own_background(image)
        if own is not None and own != loaded.room_background:
            room_mod.remove_room(loaded.room)
            loaded.room = room_mod.build_room(self.scene, own, self.spec)
            loaded.room_background = own
        return loaded.room_background

    def unload_character(self) -> None:
        """Remove the current character and room, and every datablock created since loading."""
        if self.loaded is None:
            return
        loaded, self.loaded = self.loaded, None
        try:
            self.people.hide()
            character_mod.remove_character(loaded.build)
        finally:
            _remove_tracked(loaded.tracker)

    def close(self) -> None:
        self.unload_character()
        self.people.close()
        scene, self.scene = self.scene, None
        if scene is not None:
            scene_mod.clear_scene(scene)
            ng = scene.compositing_node_group
            world = scene.world
            bpy.data.scenes.remove(scene)
            if ng is not None and ng.users == 0:
                bpy.data.node_groups.remove(ng)
            if world is not None and world.users == 0:
                bpy.data.worlds.remove(world)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "RenderSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- images ----------------------------------------------------------------------

    def _depsgraph(self):
        depsgraph = self.scene.view_layers[0].depsgraph
        depsgraph.update()
        return depsgraph

    def prepare_image(self, image: Any, crop: bool = True) -> PreparedImage:
        """Pose the character, place the camera, plan the crop and set the light for `image`."""
        if self.loaded is None:
            raise RuntimeError("no character loaded: call load_character first")
        timer = render_mod.Timer()
        character_mod.pose_character(self.loaded.build, self.spec, image.pose_phase)
        depsgraph = self._depsgraph()
        lo, hi = render_mod.person_box(self.loaded.build.person_objects(), depsgraph)
        timer.lap("pose")
        r = self.spec.render
        result = framing.plan_image_crop(image.camera, lo, hi, r.crop_height, r.margin,
                                         box=getattr(image, "box", None))
        camera_mod.apply_camera(self.camera, image.camera, result.cam_to_world)
        background = self._room_for(image)
        room = self.loaded.room
        if room.structures:  # placed around this camera; any that would hide the person is hidden
            structures_mod.place_structures(room.structures, background.structures,
                                          result.cam_to_world[:3, 3], framing.box_target(lo, hi))
        if self.loaded.others:  # after the target's box: others never move its framing
            self.people.place(image.k, result.cam_to_world[:3, 3])
        render_mod.set_border(self.scene, result.plan, crop=crop)
        lights_mod.apply_light_sample(self.lights, self.loaded.room, image.light)
        if self.engine.engine == "CYCLES":
            self.scene.cycles.seed = int(image.seed) % (2**31)
        timer.lap("camera")
        return PreparedImage(image, result, (lo, hi), timer, crop)

    def render_prepared(self, prepared: PreparedImage) -> RenderedImage:
        """Render a prepared image: crop, mask, keypoints, post-processing, encoding."""
        image, plan, timer = prepared.sample, prepared.crop.plan, prepared.timer
        rgb, mask = render_mod.render_crop(self.scene, self.outputs)
        timer.lap("render")
        if not prepared.crop_enabled:  # full frame rendered: crop afterwards (benchmark baseline)
            rgb, mask = rgb[plan.y0:plan.y1, plan.x0:plan.x1], mask[plan.y0:plan.y1, plan.x0:plan.x1]
        if rgb.shape[:2] != (plan.height, plan.width):
            raise BlankRenderError(
                f"rendered crop is {rgb.shape[1]}×{rgb.shape[0]} px, planned {plan.width}×{plan.height}")
        what = f"character {self.loaded.character.pid:04d} image {image.k}"
        check_not_blank(rgb, mask, what)
        build = self.loaded.build
        keypoints = render_mod.project_keypoints(
            self.scene, self._depsgraph(), character_mod.keypoints_world(build), prepared.crop.cam_to_world,
            image.camera, plan, {o.name for o in build.person_objects()})
        timer.lap("keypoints")
        jpeg, png = render_mod.encode_outputs(rgb, mask, image.postprocess)
        timer.lap("encode")
        lo, hi = prepared.box
        info = {
            "bbox": [plan.x0, plan.y0, plan.x1, plan.y1],
            "frame_size": [plan.frame_width, plan.frame_height],
            "crop_size": [plan.width, plan.height],
            "keypoints": keypoints,
            "person_box_world": [lo.round(4).tolist(), hi.round(4).tolist()],
            "camera_matrix": np.round(prepared.crop.cam_to_world, 6).tolist(),
            "camera_reaimed": prepared.crop.reaimed,
            "pose_source": build.pose_source,
            "engine": self.engine.engine.lower(),
            "timings": timer.times,
        }
        if build.pose_error:
            info["pose_fallback"] = build.pose_error
        return RenderedImage(k=image.k, image=jpeg, mask=png, info=info)

    def render_image(self, image: Any, crop: bool = True) -> RenderedImage:
        return self.render_prepared(self.prepare_image(image, crop=crop))

    def render_character(self, character: Any, progress: bool = False) -> list[RenderedImage]:
        """Build the character once, render all its images, then remove it again."""
        self.load_character(character)
        try:
            images = character.images
            if progress:
                from tqdm import tqdm

                images = tqdm(images, desc=f"character {character.pid:04d}", unit="img", leave=False)
            return [self.render_image(im) for im in images]
        finally:
            self.unload_character()


def _own_background(image: Any) -> Any:
    """An image's own BackgroundSample, or None (samples stored before the field existed)."""
    return getattr(image, "background", None)


def _remove_tracked(tracker: scene_mod.DatablockTracker) -> None:
    ids = [i for i in tracker.new_ids() if not i.name.startswith(KEEP_PREFIXES)]
    if ids:
        bpy.data.batch_remove(ids)


def render_character(spec: Any, character: Any, session: RenderSession | None = None,
                     progress: bool = False) -> list[RenderedImage]:
    """Render every image of a CharacterSample; with no `session`, a temporary one is used."""
    if session is not None:
        return session.render_character(character, progress)
    with RenderSession(spec) as own:
        return own.render_character(character, progress)


class CharacterRenderer(Renderer):
    """The Blender `core.renderer.Renderer`: keeps one RenderSession between calls.

    For long-running workers: `render = CharacterRenderer(); render(spec, character)` pays
    the session start once and starts a new session only when the spec changes.
    """

    def __init__(self) -> None:
        self._session: RenderSession | None = None
        self._spec_key: tuple[str, str] | None = None

    def __call__(self, spec: Spec, character: CharacterSample) -> list[RenderedImage]:
        from ..core.spec_io import spec_fingerprint, spec_to_dict

        # The folder too: relative cubemap and BVH paths resolve against it.
        key = (spec_fingerprint(spec_to_dict(spec)), spec.base_dir)
        if self._session is None or key != self._spec_key:
            self.close()
            self._session, self._spec_key = RenderSession(spec), key
        return self._session.render_character(character)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class PreviewNavigator:
    """State for the add-on's preview operators: current character/image, next/previous."""

    def __init__(self, spec: Any, session: RenderSession | None = None):
        from ..core.sampling import assign_splits

        self.spec = spec
        self.session = session or RenderSession(spec)
        self._splits = assign_splits(spec)
        self.character_index = -1
        self.image_index = 0
        self.character = None
        self.prepared: PreparedImage | None = None

    def build(self, index: int) -> LoadedCharacter:
        from ..core.sampling import expand_character

        self.character = expand_character(self.spec, index, self._splits[index])
        self.character_index, self.image_index = index, 0
        return self.session.load_character(self.character)

    def sample_camera(self) -> PreparedImage:
        """Pose, camera, crop and light of the current image (the viewport shows the result)."""
        if self.character is None:
            self.build(0)
        self.prepared = self.session.prepare_image(self.character.images[self.image_index])
        return self.prepared

    def compute_crop(self) -> CropPlan:
        return (self.prepared or self.sample_camera()).crop.plan

    def render(self) -> RenderedImage:
        prepared = self.prepared or self.sample_camera()
        self.prepared = None
        return self.session.render_prepared(prepared)

    def step(self, delta: int) -> None:
        """Move to the next/previous image; past the last image go to the next character."""
        if self.character is None:
            self.build(0)
            return
        k = self.image_index + delta
        n = len(self.character.images)
        if 0 <= k < n:
            self.image_index = k
        else:
            index = (self.character_index + (1 if k >= n else -1)) % self.spec.dataset.characters
            self.build(index)
            if k < 0:
                self.image_index = len(self.character.images) - 1
        self.prepared = None

    def close(self) -> None:
        self.session.close()


__all__ = ["RenderSession", "render_character", "CharacterRenderer", "PreviewNavigator", "CharacterOutOfFrame"]
