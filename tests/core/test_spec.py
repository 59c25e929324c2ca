"""The dataset spec: TOML round trips, presets, and validation that names the bad field."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synth_humans_addon.core import presets
from synth_humans_addon.core.spec import Range, Spec, SpecError
from synth_humans_addon.core.spec_io import load_spec, save_spec, spec_fingerprint, spec_from_dict, spec_to_dict
from synth_humans_addon.core.spec_validation import validate_spec

ROOT = Path(__file__).resolve().parents[2]


def fields_of(err: SpecError) -> list[str]:
    return [f for f, _ in err.problems]


@pytest.mark.parametrize("name", presets.PRESET_NAMES)
def test_presets_are_valid_and_round_trip_through_toml(name, tmp_path):
    spec = presets.preset(name)
    assert validate_spec(spec) == []
    save_spec(spec, tmp_path / "s.toml")
    again = load_spec(tmp_path / "s.toml")
    again.base_dir = ""
    assert again == spec


@pytest.mark.parametrize("name", presets.PRESET_NAMES)
def test_shipped_preset_files_match_the_code(name):
    spec = load_spec(ROOT / "examples" / "presets" / f"{name}.toml")
    spec.base_dir = ""
    assert spec == presets.preset(name), f"examples/presets/{name}.toml is stale: regenerate it"



def test_fingerprint_ignores_the_folder_and_sees_every_field(tmp_path):
    """The farm's job table stores the fingerprint: a spec loaded from another folder, or
    read back from the table's JSON, must resume; a changed field must not."""
    spec = presets.preset("IV-realistic")
    here = spec_fingerprint(spec_to_dict(spec))
    save_spec(spec, tmp_path / "s.toml")
    moved = load_spec(tmp_path / "s.toml")
    assert moved.base_dir == str(tmp_path.resolve()) != spec.base_dir
    assert spec_fingerprint(spec_to_dict(moved)) == here
    assert spec_fingerprint(json.loads(json.dumps(spec_to_dict(spec)))) == here
    assert len(here) == 64 and int(here, 16) >= 0
    for change in (lambda s: setattr(s.camera, "radius", s.camera.radius + 0.5),
                   lambda s: s.clothing.tops.update(jacket=0.3),
                   lambda s: setattr(s.dataset, "seed", s.dataset.seed + 1)):
        other = presets.preset("IV-realistic")
        change(other)
        assert spec_fingerprint(spec_to_dict(other)) != here

def test_presets_grow_in_realism_like_the_study():
    I, II, III, IV = (presets.preset(n) for n in ("I", "II", "III", "IV"))
    assert I.background.kind == "fixed" and set(I.clothing.textures) == {"solid"} and not I.hair.styles
    assert set(I.clothing.palettes) == {"bright"}
    assert II.background.kind == "varied" and len(II.clothing.textures) > 1
    assert III.hair.styles and len(III.clothing.textures) > len(II.clothing.textures)
    assert IV.background.kind == "cubemap" and "skirt" in IV.clothing.bottoms and IV.accessories.backpack > 0


def test_iv_is_iv_classic_in_real_cameras_scenes_and_iv_realistic_changes_only_colours():
    """Preset IV = IV-classic's people and colours + the scenes of issue 14; IV-realistic =
    IV + the published colours. Each step changes only its own sections."""
    def changed(a: dict, b: dict) -> set[str]:
        return {k for k in a if k != "dataset" and a[k] != b[k]}

    classic, iv, realistic = (spec_to_dict(presets.preset(n)) for n in ("IV-classic", "IV", "IV-realistic"))
    assert changed(classic, iv) == {"hair", "box", "camera", "background", "lighting", "postprocess"}
    assert classic["clothing"] == iv["clothing"] and classic["hair"]["palettes"] == iv["hair"]["palettes"]
    assert iv["background"]["structures"] and iv["box"]["truncate_feet"] > 0
    assert changed(iv, realistic) == {"clothing", "hair"}
    assert {k for k in iv["hair"] if iv["hair"][k] != realistic["hair"][k]} == {"palettes"}


@pytest.mark.parametrize("patch, field", [
    ({"camera": {"theta1_deg": 80, "theta2_deg": 40}}, "camera.theta1_deg"),
    ({"camera": {"radius": 0}}, "camera.radius"),
    ({"camera": {"radius": -2}}, "camera.radius"),
    ({"camera": {"theta2_deg": 120}}, "camera.theta2_deg"),
    ({"dataset": {"characters": -5}}, "dataset.characters"),
    ({"dataset": {"images_per_character": 0}}, "dataset.images_per_character"),
    ({"dataset": {"characters": 150, "test_characters": 100, "validation_characters": 100}}, "dataset.test_characters"),
    ({"clothing": {"tops": {"tshirt": 0.5, "poncho": 0.2}}}, "clothing.tops.poncho"),
    ({"clothing": {"bottoms": {"trousers": 0.8, "skirt": 0.5}}}, "clothing.bottoms"),
    ({"clothing": {"palettes": {"neon": 1.0}}}, "clothing.palettes.neon"),
    ({"clothing": {"custom_palettes": {"mine": []}, "palettes": {"mine": 1}}}, "clothing.custom_palettes.mine"),
    ({"clothing": {"custom_palettes": {"mine": ["#12345"]}}}, "clothing.custom_palettes.mine[0]"),
    ({"character": {"age_years": [50, 20]}}, "character.age_years"),
    ({"character": {"weight": [0.2, 1.4]}}, "character.weight"),
    ({"character": {"ethnicity": {"martian": 1.0}}}, "character.ethnicity.martian"),
    ({"background": {"kind": "sky"}}, "background.kind"),
    ({"render": {"crop_height": 8}}, "render.crop_height"),
    ({"render": {"engine": "luxcore"}}, "render.engine"),
    ({"accessories": {"backpack": 1.5}}, "accessories.backpack"),
    ({"pose": {"sources": {"bvh": 1.0}}}, "pose.bvh_files"),
    ({"camera": {"focal": 35}}, "camera.focal"),
    ({"dataset": {"characters": "many"}}, "dataset.characters"),
    ({"background": {"passers_by": -1}}, "background.passers_by"),
    ({"background": {"occluders": 9}}, "background.occluders"),
    ({"background": {"passer_by_distance": [3, 1]}}, "background.passer_by_distance"),
])
def test_invalid_specs_name_the_field(patch, field):
    with pytest.raises(SpecError) as exc:
        spec_from_dict(patch)
    assert field in fields_of(exc.value), exc.value
    assert field in str(exc.value)


def test_missing_cubemap_face_is_named(tmp_path):
    folder = tmp_path / "cube"
    folder.mkdir()
    for face in ("posx", "negx", "posy", "negy", "posz"):
        (folder / f"{face}.png").write_bytes(b"\x89PNG fake")
    with pytest.raises(SpecError) as exc:
        spec_from_dict({"background": {"kind": "cubemap", "cubemaps": [str(folder)]}})
    assert "background.cubemaps[0]" in fields_of(exc.value)
    assert "negz" in str(exc.value)


def test_missing_file_and_bad_toml_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="nope.toml"):
        load_spec(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset\nseed = 1")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)


def test_relative_paths_resolve_against_the_spec_file(tmp_path):
    (tmp_path / "walk.bvh").write_text("HIERARCHY\n")
    p = tmp_path / "s.toml"
    p.write_text('[pose]\nsources = { bvh = 1.0 }\nbvh_files = ["walk.bvh"]\n')
    spec = load_spec(p)
    assert spec.resolve_path("walk.bvh") == tmp_path / "walk.bvh"


def test_validate_command_exits_nonzero_on_invalid_spec(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\ntheta1_deg = 80\ntheta2_deg = 40\n")
    r = subprocess.run([sys.executable, "-m", "headless", "validate", str(bad)], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode != 0
    assert "camera.theta1_deg" in r.stdout + r.stderr
    good = subprocess.run([sys.executable, "-m", "headless", "validate", str(ROOT / "examples/presets/tiny.toml")],
                          capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0, good.stderr
    assert "characters" in good.stdout


def _random_text(rng, alphabet: str, max_len: int = 12) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def test_any_palette_name_and_string_survives_save_and_load(tmp_path):
    """Round trip over many random keys and strings: non-ASCII, quotes, backslashes, dots,
    spaces, control characters, lone surrogates excluded (not valid in UTF-8 files)."""
    import random

    rng = random.Random(15)
    alphabet = ("abcXYZ019_- .=#[]{}\"'\\\t\n\r\x00\x01\x1f\x7f" "äöüßgrünéèçñ" "åøæ€£¥©" "中文日本語한국어"
                "😀🚶‍♀️" "\u200b\u00a0\ufeff")
    for trial in range(200):
        spec = presets.preset("tiny")
        names = {_random_text(rng, alphabet) for _ in range(rng.randint(1, 4))} | {"grün"}
        spec.clothing.custom_palettes = {n: ["#a0b1c2"] for n in names}
        spec.clothing.palettes = {n: rng.random() for n in names}
        spec.dataset.name = _random_text(rng, alphabet, 30)
        spec.pose.bvh_files = [_random_text(rng, alphabet, 20) for _ in range(rng.randint(0, 3))]
        path = tmp_path / f"s{trial}.toml"
        save_spec(spec, path)
        again = load_spec(path, validate=False)
        again.base_dir = ""
        assert again == spec, (trial, names)


def _cubemap(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for face in ("posx", "negx", "posy", "negy", "posz", "negz"):
        Image.new("RGB", (8, 8), (40, 90, 20)).save(folder / f"{face}.png")
    return folder


def test_validation_opens_every_face_panorama_and_bvh_it_names(tmp_path):
    cube = _cubemap(tmp_path / "cube")
    assert validate_spec(spec_from_dict({"background": {"kind": "cubemap", "cubemaps": [str(cube)]}})) == []
    (cube / "posy.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really a png")  # right name, right magic, broken
    with pytest.raises(SpecError) as exc:
        spec_from_dict({"background": {"kind": "cubemap", "cubemaps": [str(cube)]}})
    assert fields_of(exc.value) == ["background.cubemaps[0]"] and "posy.png" in str(exc.value)

    pano = tmp_path / "pano.jpg"
    pano.write_text("not an image")
    exr = tmp_path / "sky.exr"
    exr.write_bytes(b"\x76\x2f\x31\x01" + bytes(40))  # an OpenEXR header: accepted without decoding
    with pytest.raises(SpecError) as exc:
        spec_from_dict({"background": {"kind": "equirectangular", "equirectangular": [str(pano), str(exr)]}})
    assert fields_of(exc.value) == ["background.equirectangular[0]"] and "pano.jpg" in str(exc.value)

    bvh = tmp_path / "walk.bvh"
    bvh.write_bytes(b"\xff\xd8\xff\xe0 a jpeg renamed")
    with pytest.raises(SpecError) as exc:
        spec_from_dict({"pose": {"sources": {"bvh": 1.0}, "bvh_files": [str(bvh)]}})
    assert fields_of(exc.value) == ["pose.bvh_files[0]"] and "walk.bvh" in str(exc.value)


def test_validate_command_names_a_face_that_is_not_an_image(tmp_path):
    cube = _cubemap(tmp_path / "cube")
    (cube / "negx.png").write_text("oops")
    spec = tmp_path / "s.toml"
    spec.write_text('[background]\nkind = "cubemap"\ncubemaps = ["cube"]\n')
    r = subprocess.run([sys.executable, "-m", "headless", "validate", str(spec)], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "background.cubemaps[0]" in r.stderr and "negx.png" in r.stderr


def test_other_people_fields_change_the_fingerprint_only_when_there_are_other_people():
    """Specs written before the fields existed keep their fingerprint (farm tables and study
    caches resume); with passers-by or occluders every one of the fields counts."""
    from synth_humans_addon.core.spec_io import OTHER_PEOPLE_FIELDS

    spec = presets.preset("IV-realistic")
    before = spec_to_dict(spec)
    for name in OTHER_PEOPLE_FIELDS:
        del before["background"][name]  # as a spec saved before they existed
    assert spec_fingerprint(spec_to_dict(spec)) == spec_fingerprint(before)
    spec.background.people_pool = 8  # decides nothing without other people
    assert spec_fingerprint(spec_to_dict(spec)) == spec_fingerprint(before)
    crowd = presets.preset("IV-realistic")
    crowd.background.passers_by = 1.0
    fingerprints = {spec_fingerprint(spec_to_dict(crowd))}
    for change in (lambda s: setattr(s.background, "people_pool", 8),
                   lambda s: setattr(s.background, "occluders", 0.5),
                   lambda s: setattr(s.background, "passer_by_distance", Range(2.0, 3.0))):
        change(crowd)
        fingerprints.add(spec_fingerprint(spec_to_dict(crowd)))
    assert len(fingerprints) == 4
