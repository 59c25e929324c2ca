"""The render scene: creation, engine settings from `spec.render`, outputs, clean-up.

Each render session makes its own scene ("synth_humans", "synth_humans.001", ...) holding
everything the generator builds, so the add-on never touches the user's own scenes. `DatablockTracker` records which datablocks exist
before a character is built and removes every new one afterwards: a worker can render
characters for days without its memory growing.

Outputs: a compositor node group writes two PNG files per render, the colour image (with
the scene's view transform) and the person mask, written without any colour transform:
by default the Cryptomatte object matte of the person's objects (exact coverage), or an
anti-aliased ID Mask of the object index pass (every character object has
`pass_index = 1`). Both have the crop's size because the compositor runs on the cropped
buffer.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

SCENE_NAME = "synth_humans"
PERSON_PASS_INDEX = 1
IMAGE_SLOT = "image"
MASK_SLOT = "mask"

# bpy.data collections whose new members a character (or room) may create.
_TRACKED = ("objects", "meshes", "materials", "node_groups", "images", "textures", "armatures", "actions",
            "lights", "cameras", "worlds", "collections", "curves", "lattices", "shape_keys", "scenes")


class DatablockTracker:
    """Remember the datablocks that exist now; `remove_new()` deletes every one created since."""

    def __init__(self) -> None:
        self.before = self._snapshot()

    @staticmethod
    def _snapshot() -> set[int]:
        uids: set[int] = set()
        for name in _TRACKED:
            coll = getattr(bpy.data, name, None)
            if coll is not None:
                uids.update(id_.session_uid for id_ in coll)
        return uids

    def new_ids(self) -> list[Any]:
        out = []
        for name in _TRACKED:
            coll = getattr(bpy.data, name, None)
            if coll is None or name == "shape_keys":  # shape keys go with their mesh
                continue
            out.extend(id_ for id_ in coll if id_.session_uid not in self.before)
        return out

    def remove_new(self) -> int:
        """Remove every datablock created since construction; returns how many."""
        ids = self.new_ids()
        if ids:
            bpy.data.batch_remove(ids)
        return len(ids)


def datablock_counts() -> dict[str, int]:
    """Number of datablocks per tracked collection (tests compare this to a baseline)."""
    return {name: len(getattr(bpy.data, name)) for name in _TRACKED if hasattr(bpy.data, name)}


def new_scene() -> bpy.types.Scene:
    """A new, empty scene for one render session (Blender suffixes the name if it is taken),
    so sessions never disturb each other or the user's scenes."""
    return bpy.data.scenes.new(SCENE_NAME)


def clear_scene(scene: bpy.types.Scene) -> None:
    """Remove every object of the scene and its child collections (datablocks included)."""
    objs = list(scene.objects)
    data = [o.data for o in objs if o.data is not None and o.data.users <= 1]
    colls = list(scene.collection.children_recursive)
    if objs or colls:
        bpy.data.batch_remove(objs + colls)
    data = [d for d in data if d.users == 0]
    if data:
        bpy.data.batch_remove(data)


def link(scene: bpy.types.Scene, obj: bpy.types.Object) -> bpy.types.Object:
    if obj.name not in scene.collection.objects:
        scene.collection.objects.link(obj)
    return obj


@dataclass
class EngineChoice:
    engine: str  # Blender's id: CYCLES or BLENDER_EEVEE
    device: str  # CPU or GPU


def configure_render(scene: bpy.types.Scene, render: Any, seed: int = 0) -> EngineChoice:
    """Apply `spec.render` (a RenderSection) to the scene: engine, samples, denoiser, threads.

    Defaults favour speed at re-id resolutions: Cycles on the CPU, 4 samples with adaptive
    sampling, OpenImageDenoise with the FAST prefilter, one bounce. Persistent data keeps
    the BVH between the renders of one character when only the camera moves.
    """
    r = scene.render
    engine = "BLENDER_EEVEE" if render.engine == "eevee" else "CYCLES"
    r.engine = engine
    r.resolution_percentage = 100
    r.film_transparent = False
    r.use_persistent_data = True
    r.threads_mode = "FIXED" if render.threads > 0 else "AUTO"
    if render.threads > 0:
        r.threads = render.threads
    r.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "AgX"
    scene.view_settings.look = "None"
    device = "CPU"
    if engine == "CYCLES":
        c = scene.cycles
        device = _cycles_device(render.device)
        c.device = device
        c.samples = int(render.samples)
        c.use_adaptive_sampling = render.adaptive_threshold > 0
        c.adaptive_threshold = float(render.adaptive_threshold) or 0.01
        c.adaptive_min_samples = 0
        c.max_bounces = int(render.max_bounces)
        c.diffuse_bounces = int(render.max_bounces)
        c.glossy_bounces = min(1, int(render.max_bounces))
        c.transmission_bounces = int(render.max_bounces)
        c.transparent_max_bounces = 4
        c.volume_bounces = 0
        c.caustics_reflective = False
        c.caustics_refractive = False
        c.use_denoising = render.denoiser == "oidn"
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.denoising_prefilter = {"fast": "FAST", "accurate": "ACCURATE", "none": "NONE"}[render.denoiser_prefilter]
        c.seed = int(seed) % (2**31)
        c.use_animated_seed = False
        c.tile_size = 2048  # one tile: crops are small
        c.use_auto_tile = False
        c.pixel_filter_type = "BLACKMAN_HARRIS"
        c.filter_width = 1.5
        c.sample_clamp_indirect = 10.0
    else:
        e = scene.eevee
        e.taa_render_samples = max(1, int(render.samples))
        if hasattr(e, "use_raytracing"):
            e.use_raytracing = False
        if hasattr(e, "use_shadows"):
            e.use_shadows = True
    scene.view_layers[0].use_pass_object_index = True
    scene.view_layers[0].use_pass_combined = True
    return EngineChoice(engine, device)


def _cycles_device(requested: str) -> str:
    """'GPU' if asked for and a GPU compute backend is available, else 'CPU' (documented fallback)."""
    if requested != "gpu":
        return "CPU"
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
        for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
            try:
                prefs.compute_device_type = backend
            except TypeError:
                continue
            prefs.refresh_devices()
            devices = [d for d in prefs.devices if d.type == backend]
            if devices:
                for d in prefs.devices:
                    d.use = d.type == backend
                return "GPU"
    except Exception:  # no cycles preferences (stripped builds): stay on the CPU
        pass
    print("synth-humans: render.device = 'gpu' but no GPU backend found; rendering on the CPU")
    return "CPU"


MASK_SOURCES = ("index", "cryptomatte")
CRYPTOMATTE_NODE = "person_cryptomatte"


def default_mask_source(engine: str) -> str:
    """Cryptomatte for both engines: its coverage equals the rendered alpha exactly (tested),
    while the ID Mask of the index pass blurs edges by about half a pixel (IoU ≈ 0.95 at
    80 px). EEVEE has no index pass at all."""
    return "cryptomatte"


def setup_outputs(scene: bpy.types.Scene, directory: Path, prefix: str = "r_", mask_source: str = "index") -> dict[str, Path]:
    """Compositor writing the image and the person mask as PNG into `directory` on each render.

    Returns the paths the two files will have. The mask (255 = person, soft edges) is saved
    without the view transform. `mask_source` "index": an anti-aliased ID Mask of the object
    index pass (pass_index 1). "cryptomatte": the Cryptomatte object matte of the objects
    named with `set_mask_objects` (for EEVEE).
    """
    if mask_source not in MASK_SOURCES:
        raise ValueError(f"mask_source must be one of {MASK_SOURCES}, got {mask_source!r}")
    ng = scene.compositing_node_group
    if ng is None:
        ng = bpy.data.node_groups.new(f"{scene.name}_outputs", "CompositorNodeTree")
        scene.compositing_node_group = ng
    ng.nodes.clear()
    layers = ng.nodes.new("CompositorNodeRLayers")
    layers.scene = scene
    out = ng.nodes.new("CompositorNodeOutputFile")
    out.directory = str(directory) + "/"
    out.file_name = prefix
    if hasattr(out.format, "media_type"):  # Blender 5: multilayer EXR until the media type is 'IMAGE'
        out.format.media_type = "IMAGE"
    out.format.file_format = "PNG"
    out.format.color_mode = "RGB"
    out.format.color_depth = "8"
    out.format.compression = 15
    out.file_output_items.new("RGBA", IMAGE_SLOT)
    mask_item = out.file_output_items.new("FLOAT", MASK_SLOT)
    mask_item.override_node_format = True
    mask_item.save_as_render = False
    if hasattr(mask_item.format, "media_type"):
        mask_item.format.media_type = "IMAGE"
    mask_item.format.file_format = "PNG"
    mask_item.format.color_mode = "BW"
    mask_item.format.color_depth = "8"
    mask_item.format.compression = 15
    ng.links.new(layers.outputs["Image"], out.inputs[IMAGE_SLOT])
    if mask_source == "index":
        idmask = ng.nodes.new("CompositorNodeIDMask")
        idmask.inputs["Index"].default_value = PERSON_PASS_INDEX
        idmask.inputs["Anti-Alias"].default_value = True
        ng.links.new(layers.outputs["Object Index"], idmask.inputs["ID value"])
        ng.links.new(idmask.outputs[0], out.inputs[MASK_SLOT])
    else:
        view_layer = scene.view_layers[0]
        view_layer.use_pass_cryptomatte_object = True
        view_layer.pass_cryptomatte_depth = 4
        crypto = ng.nodes.new("CompositorNodeCryptomatteV2")
        crypto.name = CRYPTOMATTE_NODE
        crypto.source = "RENDER"
        crypto.scene = scene
        crypto.layer_name = f"{view_layer.name}.CryptoObject"
        ng.links.new(layers.outputs["Image"], crypto.inputs["Image"])
        ng.links.new(crypto.outputs["Matte"], out.inputs[MASK_SLOT])
    # A group output keeps Blender's own render result (previews in the UI) meaningful.
    if not any(s.in_out == "OUTPUT" for s in ng.interface.items_tree):
        ng.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    group_out = ng.nodes.new("NodeGroupOutput")
    ng.links.new(layers.outputs["Image"], group_out.inputs[0])
    scene.render.use_compositing = True
    return {IMAGE_SLOT: Path(directory) / f"{prefix}{IMAGE_SLOT}.png", MASK_SLOT: Path(directory) / f"{prefix}{MASK_SLOT}.png"}


def set_mask_objects(scene: bpy.types.Scene, names: list[str]) -> None:
    """With a Cryptomatte mask: the objects that make up the person (call after building it)."""
    ng = scene.compositing_node_group
    node = ng.nodes.get(CRYPTOMATTE_NODE) if ng is not None else None
    if node is not None:
        node.matte_id = ",".join(names)
