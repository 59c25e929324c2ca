"""Built-in cubemap generation and cubemap folder validation (no bpy)."""
from __future__ import annotations

import numpy as np
import pytest

from synth_humans_addon.core import cubemaps
from synth_humans_addon.core.image_files import CUBEMAP_FACES


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_HUMANS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_generation_is_deterministic_and_varied():
    a = cubemaps.generate_cubemap("street", size=64)
    b = cubemaps.generate_cubemap("street", size=64)
    assert set(a) == set(CUBEMAP_FACES)
    assert all(np.array_equal(a[f], b[f]) for f in a)
    park = cubemaps.generate_cubemap("park", size=64)
    # different environments look different (mean colour of the ground differs)
    assert np.abs(park["negy"].mean(axis=(0, 1)) - a["negy"].mean(axis=(0, 1))).max() > 10
    for face in a.values():
        assert face.dtype == np.uint8 and face.shape == (64, 64, 3)
        assert 20 < face.mean() < 235  # neither black nor blown out
        assert face.std() > 3  # not one flat colour


def test_builtin_folder_is_generated_once_into_the_cache(cache):
    folder = cubemaps.cubemap_folder("builtin:corridor")
    assert folder.is_relative_to(cache)
    paths = cubemaps.face_paths(folder)
    assert set(paths) == set(CUBEMAP_FACES)
    stamp = paths["posx"].stat().st_mtime_ns
    assert cubemaps.cubemap_folder("builtin:corridor") == folder
    assert paths["posx"].stat().st_mtime_ns == stamp  # not regenerated


def test_unknown_builtin_is_refused():
    with pytest.raises(cubemaps.CubemapError, match="unknown built-in cubemap 'mars'"):
        cubemaps.cubemap_folder("builtin:mars")


def _user_cubemap(folder):
    from PIL import Image

    folder.mkdir()
    for f in CUBEMAP_FACES:
        Image.new("RGB", (8, 8), (100, 120, 140)).save(folder / f"{f}.jpg")
    return folder


def test_missing_face_names_the_face(tmp_path):
    folder = _user_cubemap(tmp_path / "cm")
    (folder / "negz.jpg").unlink()
    with pytest.raises(cubemaps.CubemapError, match="missing face 'negz'"):
        cubemaps.cubemap_folder(str(folder))


def test_unreadable_face_names_the_file(tmp_path):
    folder = _user_cubemap(tmp_path / "cm")
    (folder / "posy.jpg").write_bytes(b"this is not a jpeg at all")
    with pytest.raises(cubemaps.CubemapError, match="posy.jpg is not a readable image"):
        cubemaps.cubemap_folder(str(folder))


def test_valid_user_folder_resolves(tmp_path):
    folder = _user_cubemap(tmp_path / "cm")
    assert cubemaps.cubemap_folder(str(folder)) == folder
