"""The non-GAN refiner (`refiner match`): colour statistics and camera degradations of the target."""
import json

import numpy as np
import pytest
from PIL import Image

from refiner.data import load_domain
from refiner.options import OptionsError
from refiner.stats_match import MatchOptions, lab_to_rgb, match_dataset, rgb_to_lab
from synth_humans_addon.core.crop_stats import crop_stats
from synth_humans_addon.core.dataset import read_dataset


def _lab_images(folder_or_paths):
    paths = folder_or_paths if isinstance(folder_or_paths, list) else \
        [it.image for it in load_domain(folder_or_paths, ["all"]).items]
    return [rgb_to_lab(np.asarray(Image.open(p).convert("RGB"))) for p in paths]


def _pooled(labs, weights=None):
    """Per-channel mean and std over all (weighted) pixels of the images."""
    x = np.concatenate([lab.reshape(-1, 3) for lab in labs])
    w = np.ones(len(x)) if weights is None else np.concatenate([w.reshape(-1) for w in weights])
    mean = (w[:, None] * x).sum(0) / w.sum()
    return mean, np.sqrt((w[:, None] * (x - mean) ** 2).sum(0) / w.sum())


def _masks(paths):
    return [np.asarray(Image.open(p).convert("L"), np.float64) / 255.0 for p in paths]


def test_lab_conversion_is_the_cie_one_and_round_trips_exactly():
    rgb = np.array([[255, 0, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]], np.uint8)
    np.testing.assert_allclose(rgb_to_lab(rgb), [[53.24, 80.09, 67.20], [32.30, 79.19, -107.86], [100, 0, 0], [0, 0, 0]],
                               atol=0.01)
    every = np.random.default_rng(0).integers(0, 256, (4096, 3), dtype=np.uint8)
    assert np.array_equal(lab_to_rgb(rgb_to_lab(every)), every)


@pytest.fixture(scope="module")
def whole(generated, real_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("match") / "whole"
    match_dataset(generated, real_root, out, MatchOptions(regions="whole", camera=False), progress=False)
    return out


def test_the_matched_set_has_the_targets_colour_statistics(whole, generated, real_root):
    source, target, matched = _pooled(_lab_images(generated)), _pooled(_lab_images(real_root)), \
        _pooled(_lab_images(whole))
    assert np.abs(source[0] - target[0]).max() > 10  # the procedural domains differ clearly
    # Exact before writing; clipping to the sRGB gamut and JPEG's 4:2:0 chroma subsampling
    # then shrink the chroma spread a little (the blue stand-in camera pushes colours out of gamut).
    np.testing.assert_allclose(matched[0], target[0], atol=2.0)  # means in L, a, b units
    np.testing.assert_allclose(matched[1], target[1], rtol=0.15)
    assert np.abs(matched[0] - target[0]).max() < 0.15 * np.abs(source[0] - target[0]).max()


def test_dataset_scope_keeps_the_order_of_people(whole, generated):
    """One map for all images: the person that was lighter than another stays lighter."""
    before = [lab[..., 0].mean() for lab in _lab_images(generated)]
    after = [lab[..., 0].mean() for lab in _lab_images(whole)]
    assert np.corrcoef(before, after)[0, 1] > 0.99


def test_the_copy_keeps_names_labels_masks_and_metadata(whole, generated):
    src, dst = read_dataset(generated), read_dataset(whole)
    key = lambda r: r.path.relative_to(r.path.parents[1]).as_posix()  # noqa: E731
    by_name = {key(r): r for r in dst.images}
    assert sorted(by_name) == sorted(map(key, src.images)) and len(by_name) == 32
    for r in src.images:
        d = by_name[key(r)]
        assert (d.pid, d.camera_id, d.subset, d.split, d.k) == (r.pid, r.camera_id, r.subset, r.split, r.k)
        assert d.mask_path.read_bytes() == r.mask_path.read_bytes()
        assert Image.open(d.path).size == Image.open(r.path).size
    for meta in (generated / "metadata").glob("*.json"):
        assert (whole / "metadata" / meta.name).read_bytes() == meta.read_bytes()
    refined = json.loads((whole / "dataset.json").read_text())["refined"]
    assert refined["method"] == "stats" and refined["options"]["regions"] == "whole"
    assert set(refined["statistics"]["target"]) == {"whole"}


def test_person_and_background_are_matched_apart(generated, real_root, tmp_path):
    """Here the stand-in real camera is the source (its masks a folder) and our generated look
    the target: its colours lie well inside the sRGB gamut, so the match is close to exact."""
    source, masks_spec = real_root / "bounding_box_train", f"folder:{real_root / 'masks'}"
    for name, regions in (("regions", "masks"), ("whole", "whole")):
        match_dataset(source, generated, tmp_path / name, MatchOptions(regions=regions, camera=False,
                                                                       target_subsets=["all"]),
                      source_masks=masks_spec, progress=False)
    names = sorted(p.name for p in source.glob("*.jpg"))
    masks = _masks([real_root / "masks" / n.replace(".jpg", ".png") for n in names])
    labs = _lab_images([tmp_path / "regions" / n for n in names])
    one_map = _lab_images([tmp_path / "whole" / n for n in names])
    records = read_dataset(generated).images
    t_labs, t_masks = _lab_images([r.path for r in records]), _masks([r.mask_path for r in records])
    for region, w, tw in (("person", masks, t_masks), ("background", [1 - m for m in masks], [1 - m for m in t_masks])):
        got, want, whole = _pooled(labs, w), _pooled(t_labs, tw), _pooled(one_map, w)
        # Exact before writing; JPEG's 4:2:0 chroma then mixes person and background colour along
        # the outline and smooths the chroma of the source's pixel noise: a few units on a* and b*
        np.testing.assert_allclose(got[0], want[0], atol=2.0, err_msg=region)
        assert (np.abs(got[1] - want[1]) <= [1.5, 3.0, 3.0]).all(), (region, got[1], want[1])
        error = lambda stats: np.abs(stats[0] - want[0]).sum() + np.abs(stats[1] - want[1]).sum()  # noqa: E731
        assert error(got) < 0.5 * error(whole), region  # one map for the whole crop fits neither region


def test_image_scope_gives_every_crop_the_targets_typical_statistics(generated, real_root, tmp_path):
    out = tmp_path / "image"
    match_dataset(generated, real_root, out, MatchOptions(regions="whole", scope="image", camera=False),
                  progress=False)
    target = np.median([lab.reshape(-1, 3).mean(0) for lab in _lab_images(real_root)], 0)
    for lab in _lab_images(out):
        np.testing.assert_allclose(lab.reshape(-1, 3).mean(0), target, atol=2.0)


def test_the_camera_step_adds_the_targets_noise_and_jpeg_and_is_seeded(generated, real_root, tmp_path):
    runs = [match_dataset(generated, real_root, tmp_path / name, MatchOptions(regions="whole", seed=seed),
                          progress=False) for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    stats = runs[0].stats
    lo, hi = stats.jpeg_quality
    files = sorted((tmp_path / "a" / "bounding_box_train").glob("*.jpg"))
    measured = [crop_stats(Image.open(p)) for p in files]
    assert all(lo <= m.jpeg_quality <= hi for m in measured)
    noise = lambda folder: np.median([crop_stats(Image.open(it.image)).noise_std  # noqa: E731
                                      for it in load_domain(folder, ["all"]).items])
    before, after, want = noise(generated), float(np.median([m.noise_std for m in measured])), noise(real_root)
    assert abs(after - want) < 0.35 * want < abs(before - want)
    same = [(tmp_path / x / "bounding_box_train" / files[0].name).read_bytes() for x in "abc"]
    assert same[0] == same[1] != same[2]


def test_person_regions_without_target_masks_are_refused(generated, real_root, tmp_path):
    with pytest.raises(OptionsError, match="--target-masks"):
        match_dataset(generated, real_root, tmp_path / "x", MatchOptions(regions="masks"), progress=False)


def test_command_line(generated, real_root, tmp_path):
    from cli_process import run_cli

    r = run_cli("refiner", "match", "--data", str(generated), "--target", str(real_root), "-o", "out", "--regions",
                "whole", "--no-camera", "--scope", "image", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("matched 32 images into out (whole crops, lab, scope image)") and "images/min" in r.stdout
    refined = json.loads((tmp_path / "out" / "dataset.json").read_text())["refined"]
    assert refined["options"]["scope"] == "image" and refined["options"]["camera"] is False
    assert refined["statistics"]["blur_sigma"] is None
