"""A site's own crops: split-folder, a whole folder as the test set, the colour-histogram
baseline, and the decode-once training path against the reference pipeline.

Every image here is made by the test: identities are solid-colour crops with a different
colour on the top and the bottom half, so a colour histogram over horizontal stripes can
tell all of them apart and a baseline that works scores rank-1 = 100 %.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[2]


def person(pid: int, k: int, size=(24, 64)) -> Image.Image:
    """A crop of identity `pid`: its own top and bottom colours, a little per-image noise."""
    rng = np.random.default_rng(pid)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    w, h = size
    arr = np.empty((h, w, 3), np.float64)
    arr[: h // 2], arr[h // 2:] = top, bottom
    arr += np.random.default_rng(10_000 * pid + k).normal(0, 3, arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def cuhk_like_folder(root: Path, identities: int, slots=range(10)) -> Path:
    """A flat folder named NNNN_SS.jpg, slots 0–4 camera 1 and 5–9 camera 2 (CUHK03's release)."""
    root.mkdir(parents=True)
    for pid in range(1, identities + 1):
        for s in slots:
            person(pid, s).save(root / f"{pid:04d}_{s:02d}.jpg", quality=95)
    return root


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def reid_cli(*args: str, capsys=None) -> int:
    """`python -m reid ARGS` in this process (the same entry point, without a new torch import)."""
    from reid.cli import main

    return main(list(args))


def test_split_folder_splits_by_identity_maps_slots_to_cameras_and_links_not_copies(tmp_path):
    from reid.data.folder_split import FolderSplitError, NamingRule, parse_camera_of_slot, split_folder

    src = cuhk_like_folder(tmp_path / "src", 12, slots=(0, 1, 2, 5, 6, 7))
    rule = NamingRule(r"(?P<pid>\d+)_(?P<slot>\d+)", parse_camera_of_slot("0-4=1,5-9=2"))
    summary = split_folder(src, tmp_path / "dev", rule, test_identities=5, seed=3, max_images_per_identity=4)
    train, test = sorted((tmp_path / "dev" / "train").iterdir()), sorted((tmp_path / "dev" / "test").iterdir())
    train_ids, test_ids = {p.name[:4] for p in train}, {p.name[:4] for p in test}
    assert len(test_ids) == 5 and len(train_ids) == 7 and not train_ids & test_ids
    assert summary.test_images == 5 * 6 and summary.train_images == 7 * 4
    # cameras alternate when images are capped: two from each camera
    assert all(sum(f"_c{c}_" in p.name for p in train if p.name.startswith(i)) == 2 for i in train_ids for c in (1, 2))
    assert all(p.name.split("_")[1] == ("c1" if int(p.stem.split("_")[2]) < 5 else "c2") for p in train + test)
    assert os.path.samefile(test[0], src / f"{test[0].name[:4]}_{test[0].stem.split('_')[2]}.jpg")
    record = json.loads((tmp_path / "dev" / "split.json").read_text())
    assert sorted(f"{p:04d}" for p in record["test_pids"]) == sorted(test_ids)
    again = split_folder(src, tmp_path / "dev2", rule, test_identities=5, seed=3)
    assert json.loads((tmp_path / "dev2" / "split.json").read_text())["test_pids"] == record["test_pids"]
    assert again.train_images == 7 * 6
    with pytest.raises(FolderSplitError, match="slot"):
        split_folder(src, tmp_path / "x", NamingRule(r"(?P<pid>\d+)_(?P<slot>\d+)"), 5)
    with pytest.raises(FolderSplitError, match="identities"):
        split_folder(src, tmp_path / "y", rule, test_identities=12)


def test_colour_histogram_is_a_hellinger_embedding_that_sees_stripes():
    from reid.baselines import ColourHistogram

    h = ColourHistogram()
    a = h.describe(person(1, 0))
    assert a.shape == (h.dim,) == (6 * (16 + 8 + 8),)
    assert np.allclose((a ** 2).sum(), 6 * 3)  # each stripe's three histograms sum to 1
    flipped = h.describe(person(1, 0).transpose(Image.FLIP_TOP_BOTTOM))
    # the same colours in other places: a global histogram could not tell, the stripes can
    assert np.linalg.norm(a - flipped) > 1.0
    assert np.linalg.norm(a - h.describe(person(1, 1))) < 0.5 * np.linalg.norm(a - h.describe(person(2, 0)))


def test_evaluate_takes_a_folder_of_exactly_100_identities_as_the_test_set_with_the_baseline(tmp_path):
    src = cuhk_like_folder(tmp_path / "site", 100, slots=(0, 1, 5, 6))
    dev = tmp_path / "dev"
    # a site folder of 100 identities only: everything is the test set
    assert reid_cli("split-folder", str(src), "--output", str(dev), "--pattern", r"(?P<pid>\d+)_(?P<slot>\d+)",
                    "--camera-of-slot", "0-4=1,5-9=2", "--test-identities", "99") == 0
    assert reid_cli("evaluate", "--data", str(dev / "test"), "--layout", "folder", "--output", str(tmp_path / "ev99"),
                    "--quiet", "--single-shot-identities", "99") == 0
    # the original folder, renamed to the folder layout, is 100 identities and nothing else
    whole = tmp_path / "whole"
    whole.mkdir()
    for p in src.iterdir():
        pid, slot = p.stem.split("_")
        (whole / f"{pid}_c{1 if int(slot) < 5 else 2}_{slot}.jpg").symlink_to(p)
    proc = run("-m", "reid", "evaluate", "--data", str(whole), "--layout", "folder", "--output",
               str(tmp_path / "ev"), "--quiet")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    rows = {(r["model"], r["protocol"]): r for r in csv.DictReader(open(tmp_path / "ev" / "results.csv"))}
    assert {p for _, p in rows} == {"cross-camera", "market1501", "cuhk03", "thesis"}  # the folder's protocols
    hist, chance = rows[("colour-histogram", "cross-camera")], rows[("chance", "cross-camera")]
    assert int(hist["num_query"]) == 100 and float(chance["rank1"]) == pytest.approx(0.01)
    assert float(hist["rank1"]) == 1.0  # every identity has its own colours
    assert float(rows[("colour-histogram", "market1501")]["mAP"]) > 0.99
    report = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert report["dataset"]["query_identities"] == 100 and report["dataset"]["train_images"] == 0


def test_a_model_trained_on_a_train_folder_is_scored_on_a_test_folder(tmp_path):
    src = cuhk_like_folder(tmp_path / "site", 24, slots=(0, 1, 5, 6))
    dev = tmp_path / "dev"
    assert reid_cli("split-folder", str(src), "--output", str(dev), "--pattern", r"(?P<pid>\d+)_(?P<slot>\d+)",
                    "--camera-of-slot", "0-4=1,5-9=2", "--test-identities", "8") == 0
    assert reid_cli("train", "--data", str(dev / "train"), "--layout", "folder", "--folder-role", "train",
                    "--num-validation", "4", "--epochs", "1", "--height", "32", "--width", "16", "--batch-size", "16",
                    "--workers", "0", "--output", str(tmp_path / "run"), "--quiet") == 0
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 1 and history[0]["val_identities"] == 4  # 4 of the 16 training identities validate
    assert reid_cli("evaluate", "--checkpoints", str(tmp_path / "run" / "best.pt"), "--names", "site",
                    "--data", str(dev / "test"), "--layout", "folder", "--output", str(tmp_path / "ev"), "--quiet",
                    "--single-shot-identities", "8") == 0
    models = json.loads((tmp_path / "ev" / "results.json").read_text())["models"]
    assert set(models) == {"site", "colour-histogram"}
    assert models["site"]["cross-camera"]["num_query"] == 8


def test_decode_once_frames_equal_the_reference_pipeline_before_augmentation(tmp_path):
    """The invariant `reid.data.cached` relies on: the same resize as build_transforms."""
    import torch

    from reid.data.augment import Augment, normalise
    from reid.data.cached import CachedBatches, decode_resized
    from reid.data.records import ImageItem
    from reid.data.transforms import build_transforms

    paths = []
    for k in range(6):
        p = tmp_path / f"{k}.jpg"
        person(k + 1, k, size=(37 + k, 101)).save(p)  # odd sizes: a real resize, not a copy
        paths.append(ImageItem(str(p), k + 1, 1))
    frames, bad = decode_resized(paths, 48, 20)
    assert not bad and frames.dtype == torch.uint8 and frames.shape == (6, 3, 48, 20)
    reference = build_transforms(48, 20, train=False)
    for it, frame in zip(paths, frames):
        ref = reference(Image.open(it.path).convert("RGB"))
        assert torch.allclose(normalise(frame[None].float() / 255)[0], ref, atol=1e-5)
    # no augmentation: batches are exactly the normalised frames, every image once per epoch
    batches = CachedBatches(frames, [0, 1, 2, 3, 4, 5], 4, Augment(flip=False), seed=1)
    seen = torch.cat([lab for _, lab in batches])
    assert len(batches) == 1 and len(seen) == 4 and len(set(seen.tolist())) == 4  # drop_last, as the reference
    batches.set_epoch(1)
    first = [lab.tolist() for _, lab in batches]
    batches.set_epoch(1)
    assert [lab.tolist() for _, lab in batches] == first  # resume-stable order


def test_augmentations_keep_shape_and_range_and_grayscale_makes_grey(tmp_path):
    import torch

    from reid.data.augment import Augment

    frames = torch.randint(0, 256, (8, 3, 32, 16), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    out = Augment(flip=True, pad=4, colour_jitter=0.4, grayscale=1.0)(frames, gen)
    erased = Augment(random_erasing=1.0)(frames, torch.Generator().manual_seed(1))
    assert (erased == 0).all(1).sum() > 0  # a rectangle filled with the mean colour (0 after normalising)
    assert out.shape == (8, 3, 32, 16) and torch.isfinite(out).all()
    from reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    rgb = out * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-5) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-5)
