"""The dataset format: writer, reader, and errors that name the file."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from synth_humans_addon.core import dataset as ds
from synth_humans_addon.core import presets, sampling
from synth_humans_addon.core.spec_io import spec_to_dict


def fake_render(character):
    out = []
    for im in character.images:
        buf, mbuf = io.BytesIO(), io.BytesIO()
        Image.new("RGB", (20, 48), (im.k * 20, 90, 30)).save(buf, "JPEG")
        Image.new("L", (20, 48), 255).save(mbuf, "PNG")
        out.append(ds.RenderedImage(k=im.k, image=buf.getvalue(), mask=mbuf.getvalue(),
                                    info={"bbox": [1, 2, 21, 50], "frame_size": [100, 80]}))
    return out


@pytest.fixture
def written(tmp_path):
    spec = presets.preset("tiny")
    root = tmp_path / "data"
    ds.create_dataset(root, spec.dataset.name, spec_to_dict(spec))
    chars = list(sampling.expand_dataset(spec))
    for c in chars:
        ds.write_character(root, c, fake_render(c))
    return root, spec, chars


def test_write_then_read_gives_typed_records(written):
    root, spec, chars = written
    d = ds.read_dataset(root)
    assert len(d.images) == spec.total_images
    assert {r.pid for r in d.images} == {c.pid for c in chars}
    for r in d.images:
        pid, cam, frame, k = ds.parse_name(r.path.name)
        assert (pid, cam, k) == (r.pid, r.camera_id, r.k)
        assert r.path.parent.name == r.subset
        assert r.mask_path.name == r.path.stem + ".png"
        assert r.info["bbox"] == [1, 2, 21, 50]
    # Market-1501 toolboxes only look at the folders and names:
    assert sorted(p.name for p in (root / "bounding_box_train").iterdir()) == sorted(
        r.path.name for r in d.train)
    assert d.query and d.gallery and d.validation
    assert d.manifest["spec"]["dataset"]["name"] == "tiny"
    assert d.characters[chars[0].pid]["character"] == chars[0].to_dict()


def test_names_follow_the_market1501_pattern(written):
    root, _, _ = written
    for sub in ("bounding_box_train", "bounding_box_test", "query"):
        for p in (root / sub).iterdir():
            stem = p.stem
            assert len(stem.split("_")[0]) == 4 and stem.split("_")[1].startswith("c") and p.suffix == ".jpg"


def test_missing_image_is_skipped_and_reported_or_refused_when_strict(written):
    root, _, _ = written
    before = ds.read_dataset(root)
    victim = next((root / "bounding_box_train").iterdir())
    victim.unlink()
    mask = next(m for m in sorted((root / "masks").rglob("*.png")) if m.stem != victim.stem)
    mask.unlink()
    after = ds.read_dataset(root)
    assert victim in after.missing and mask in after.missing and len(after.missing) == 2
    assert len(after.images) == len(before.images) - 1 and victim not in {r.path for r in after.images}
    assert [r.path.stem for r in after.images if r.mask_path is None] == [mask.stem]
    with pytest.raises(ds.DatasetFormatError, match="listed in .* but missing"):
        ds.read_dataset(root, strict=True)


def test_unlisted_image_is_named(written):
    root, _, _ = written
    stray = root / "query" / "0099_c1s1_000001_00.jpg"
    stray.write_bytes(b"x")
    with pytest.raises(ds.DatasetFormatError, match="0099_c1s1_000001_00.jpg"):
        ds.read_dataset(root)


def test_malformed_metadata_is_named(written):
    root, _, chars = written
    mp = ds.metadata_path(root, chars[0].pid)
    mp.write_text("{not json")
    with pytest.raises(ds.DatasetFormatError, match=mp.name):
        ds.read_dataset(root)


def test_not_a_dataset(tmp_path):
    with pytest.raises(ds.DatasetFormatError, match="dataset.json"):
        ds.read_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ds.DatasetFormatError, match="format"):
        ds.read_dataset(tmp_path)


def test_incomplete_character_is_refused_and_write_is_atomic(tmp_path):
    spec = presets.preset("tiny")
    root = tmp_path / "d"
    ds.create_dataset(root, "tiny", spec_to_dict(spec))
    c = sampling.expand_character(spec, 0)
    with pytest.raises(ds.DatasetFormatError, match="no rendered image"):
        ds.write_character(root, c, fake_render(c)[:-1])
    assert not ds.character_complete(root, c.pid)
    ds.write_character(root, c, fake_render(c))
    assert ds.character_complete(root, c.pid)
    assert not [p for p in root.rglob("*.part")]


def test_create_refuses_another_dataset_in_the_same_folder(tmp_path):
    ds.create_dataset(tmp_path, "a", None)
    ds.create_dataset(tmp_path, "a", None)  # reopening is fine
    with pytest.raises(ds.DatasetFormatError, match="another output folder"):
        ds.create_dataset(tmp_path, "b", None)


def test_the_query_rule_first_image_of_each_camera():
    assert ds.query_flags([3, 3, 1, 3, 1]) == [True, False, True, False, False]
    assert ds.query_flags([2]) == [False]  # a lone image: a gallery distractor
    assert ds.query_flags([4, 1, 2]) == [True, True, False]  # every camera once: the last stays in the gallery
    assert ds.query_flags([5, 5, 5]) == [True, False, False]  # one camera: still one query (single-shot)


def test_path_inside_check_follows_links(tmp_path):
    root, outside = tmp_path / "ds", tmp_path / "elsewhere"
    (root / "query").mkdir(parents=True)
    outside.mkdir()
    (root / "query" / "escape").symlink_to(outside)
    assert ds.is_inside(root, root) and ds.is_inside(root, root / "query" / "a.jpg")
    assert not ds.is_inside(root, root / "query" / "escape" / "a.jpg")
    assert not ds.is_inside(root, tmp_path / "ds-sibling")  # a shared prefix is not inside
    assert ds.require_inside(root, root / "query" / "a.jpg") == root / "query" / "a.jpg"
    with pytest.raises(ds.DatasetFormatError, match="outside the dataset"):
        ds.require_inside(root, root / "query" / "escape" / "a.jpg")


def test_a_copy_keeps_names_masks_and_metadata_and_records_its_provenance(written, tmp_path):
    root, spec, _ = written
    copy = ds.plan_dataset_copy(root, tmp_path / "copy")
    assert len(copy.images) == spec.total_images and set(copy.masks) == set(copy.images)
    grey = io.BytesIO()
    Image.new("RGB", (20, 48), (128, 128, 128)).save(grey, "JPEG")
    ds.write_dataset_copy(copy, ((rel, grey.getvalue()) for rel in copy.images), {"step": 1})
    again = ds.read_dataset(tmp_path / "copy")
    assert [r.path.name for r in again.images] == [r.path.name for r in copy.dataset.images]
    assert again.manifest["name"] == "tiny-refined" and again.manifest["refined"] == {"step": 1}
    assert (tmp_path / "copy" / again.images[0].path.relative_to(again.root)).read_bytes() == grey.getvalue()
    assert again.images[0].mask_path.read_bytes() == copy.masks[copy.images[0]].read_bytes()
    # a copy of the copy keeps the first provenance in the history
    ds.write_dataset_copy(ds.plan_dataset_copy(tmp_path / "copy", tmp_path / "twice"), [], {"step": 2}, "named")
    twice = ds.read_manifest(tmp_path / "twice")
    assert twice["name"] == "named" and twice["refinement_history"] == [{"step": 1}]
    with pytest.raises(ValueError, match="not an image"):
        ds.write_dataset_copy(copy, [("metadata/0000.json", b"{}")], {})
