"""The person segmenter trained on our renders: network, augmentation, split, training, resume, masks."""
import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from refiner.data import FolderMasks, load_domain, parse_mask_source  # noqa: E402
from refiner.masks import segment_folder  # noqa: E402
from refiner.options import OptionsError  # noqa: E402
from refiner.segmenter import (UNet, camera_augmentation, load_crops, load_segmenter, resolve_segmenter_path,  # noqa: E402
                               train_segmenter)
from refiner.segmenter_options import SegmenterOptions  # noqa: E402
from refiner.train import train  # noqa: E402
from refiner_fixtures import tiny_options  # noqa: E402
from synth_humans_addon.core.crop_stats import crop_stats  # noqa: E402


def _tiny(**kw):
    base = dict(height=64, width=32, base=4, depth=2, epochs=2, batch_size=8, held_out=0.25, device="cpu")
    return SegmenterOptions(**{**base, **kw})


@pytest.fixture(scope="module")
def run(generated, tmp_path_factory):
    """A small segmenter (6 epochs, a few seconds): it finds people roughly; plumbing, not accuracy."""
    torch.set_num_threads(1)  # set up before the per-test one_thread fixture
    return train_segmenter(generated, tmp_path_factory.mktemp("seg") / "run",
                           _tiny(base=8, depth=3, epochs=6, lr=1e-2), progress=False)


def test_unet_gives_one_logit_per_pixel_of_the_frame():
    net = UNet(base=4, depth=3)
    assert net(torch.zeros(2, 3, 128, 64)).shape == (2, 1, 128, 64)


def test_camera_augmentation_is_the_generators_degradation_seeded():
    image = np.zeros((128, 64, 3), np.uint8)  # crisp, noise-free blocks
    image[:] = (200, 180, 160)
    image[20:100, 16:48] = (40, 60, 150)
    a, b = (camera_augmentation(image, np.random.default_rng(5)) for _ in range(2))
    c = camera_augmentation(image, np.random.default_rng(6))
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # over draws, what headless fit measures says noise and blur were added
    before = crop_stats(image)
    after = [crop_stats(camera_augmentation(image, np.random.default_rng(s))) for s in range(12)]
    assert before.noise_std < 1e-3 and np.mean([m.noise_std for m in after]) > 5e-3  # (strong JPEG hides some)
    assert np.median([m.blur_sigma for m in after]) > before.blur_sigma + 0.3


def test_split_is_by_identity_and_seeded(generated):
    train_a, held_a = load_crops(generated, 0.25, seed=0)
    train_b, held_b = load_crops(generated, 0.25, seed=0)
    _, held_c = load_crops(generated, 0.25, seed=1)
    assert set(train_a.pids).isdisjoint(held_a.pids) and len(set(held_a.pids)) == 2
    assert len(train_a.images) + len(held_a.images) == 32 and len(held_a.images) == 8
    assert held_a.pids == held_b.pids and set(held_a.pids) != set(held_c.pids)
    assert all(im.size == m.size for im, m in zip(train_a.images, train_a.masks))


def test_run_folder_holds_the_checkpoint_history_and_report(run):
    out = run.output
    assert (out / "segmenter.pt").is_file() and (out / "heldout.png").is_file()
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 7)) and all(0 <= h["heldout_iou_mean"] <= 1 for h in history)
    report = json.loads((out / "report.json").read_text())
    assert report["heldout_identities"] == 2 and report["heldout"]["images"] == 8
    assert 0 <= report["heldout_prior_iou"] <= 1 and report["train_minutes"] > 0


def test_resume_continues_to_the_same_weights(generated, tmp_path):
    straight = train_segmenter(generated, tmp_path / "straight", _tiny(epochs=2), progress=False)
    train_segmenter(generated, tmp_path / "split", _tiny(epochs=1), progress=False)
    with pytest.raises(OptionsError, match="base"):
        train_segmenter(generated, tmp_path / "split", resume=True, overrides={"base": 8}, progress=False)
    # the run's own values repeated (the starting command with --resume) are not a change
    same = {"base": _tiny().base, "depth": _tiny().depth}
    resumed = train_segmenter(generated, tmp_path / "split", resume=True, overrides={"epochs": 2, **same},
                              progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a = torch.load(straight.checkpoint, weights_only=True)["model"]
    b = torch.load(resumed.checkpoint, weights_only=True)["model"]
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=name)


def test_masks_plug_into_segment_folder_and_the_mask_sources(run, real_root, tmp_path):
    segmenter = load_segmenter(run.output)  # a run folder means its segmenter.pt
    n = segment_folder(real_root, tmp_path / "masks", segmenter, progress=False)
    domain = load_domain(real_root)
    assert n == len(domain) == 32
    folder = FolderMasks(tmp_path / "masks")
    source = parse_mask_source(f"ours:{run.output}", domain.layout)
    assert repr(source) == f"ours:{run.checkpoint.resolve()}"
    assert repr(parse_mask_source(repr(source), domain.layout)) == repr(source)  # a resumed run reads it back
    for item in domain.items[:4]:
        image = Image.open(item.image).convert("RGB")
        from_folder, on_the_fly = np.asarray(folder(item, image)), np.asarray(source(item, image))
        assert from_folder.shape == (image.height, image.width) and set(np.unique(from_folder)) == {0, 255}
        assert np.array_equal(from_folder, on_the_fly)


def test_ptgan_trains_with_our_segmenter_on_the_target_side(run, generated, real_root, tmp_path):
    result = train(tiny_options(model="ptgan"), generated, real_root, tmp_path / "ptgan", target_masks=f"ours:{run.output}",
                   max_steps=2, progress=False)
    info = json.loads((tmp_path / "ptgan" / "run.json").read_text())
    assert info["target_masks"] == f"ours:{run.checkpoint.resolve()}"
    assert result.history[-1]["person_B"] > 0  # the target's person loss is on: masks were found


def test_ours_without_a_checkpoint_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_HUMANS_SEGMENTER", str(tmp_path / "none.pt"))
    with pytest.raises(FileNotFoundError, match="SYNTH_HUMANS_SEGMENTER.*python -m refiner segmenter"):
        resolve_segmenter_path(None)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        parse_mask_source(f"ours:{tmp_path / 'nowhere'}", "folder")


def test_training_learns_masks_of_held_out_identities(generated, tmp_path):
    """25 epochs on 24 procedural crops (4 s on one thread): well above the untrained first epoch.
    (The procedural figures share one shape, so the average mask alone scores high on them; the
    segmenter's real measure is on a rendered dataset, docs/refiner.md.)"""
    r = train_segmenter(generated, tmp_path / "run", _tiny(base=8, depth=3, epochs=25, lr=1e-2), progress=False)
    first, last = r.history[0]["heldout_iou_mean"], r.report["heldout"]["iou_mean"]
    assert last >= 0.75 and last > first + 0.15, (first, last)
    assert r.report["heldout_degraded"]["iou_mean"] >= 0.7
