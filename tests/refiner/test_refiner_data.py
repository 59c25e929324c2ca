"""Domains, mask sources and the shared crop/flip of images and masks."""
import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from refiner.data import (LAYOUT_FOLDER, LAYOUT_GENERATED, LAYOUT_MARKET, FolderMasks, ItemMasks, NoMasks,  # noqa: E402
                          UnalignedPairs, load_domain, parse_mask_source)
from refiner.images import PairTransform, fit_into  # noqa: E402
from refiner.options import OptionsError, RefinerOptions  # noqa: E402


def test_layouts_are_detected_and_listed(generated, real_root, tmp_path):
    gen = load_domain(generated, ["all"])
    assert gen.layout == LAYOUT_GENERATED and len(gen) == 32
    assert all(it.mask is not None and it.mask.is_file() for it in gen.items)
    assert len(load_domain(generated, ["bounding_box_train"])) < 32
    real = load_domain(real_root)
    assert real.layout == LAYOUT_MARKET and len(real) == 32  # masks/ is not an image subset
    folder = load_domain(real_root / "bounding_box_train")
    assert folder.layout == LAYOUT_FOLDER and len(folder) == 32


def test_mask_sources(generated, real_root):
    real = load_domain(real_root)
    item = real.items[0]
    image = Image.open(item.image).convert("RGB")
    assert isinstance(parse_mask_source("auto", LAYOUT_MARKET), NoMasks)
    assert isinstance(parse_mask_source("auto", LAYOUT_GENERATED), ItemMasks)
    assert isinstance(parse_mask_source("auto", "synth-humans"), ItemMasks)  # the format's earlier name
    folder = parse_mask_source(f"folder:{real_root / 'masks'}", LAYOUT_MARKET)
    assert isinstance(folder, FolderMasks)
    mask = folder(item, image)
    assert mask.size == image.size and mask.mode == "L"
    assert 0 < np.asarray(mask).mean() < 255
    model = parse_mask_source("python:refiner_fixtures:threshold_segmenter", LAYOUT_MARKET)
    assert np.asarray(model(item, image)).shape == (image.height, image.width)
    with pytest.raises(ValueError, match="mask source"):
        parse_mask_source("nonsense-that-is-not-a-folder", LAYOUT_FOLDER)


def test_fit_into_keeps_the_aspect_ratio():
    # a 40×80 image with a filled circle of diameter 40: after fitting into 64×64 it must stay round
    img = Image.new("L", (40, 80), 0)
    from PIL import ImageDraw

    ImageDraw.Draw(img).ellipse((0, 20, 39, 59), fill=255)
    out = np.asarray(fit_into(img, 64, 64, Image.BILINEAR, "constant", 0)) > 127
    ys, xs = np.nonzero(out)
    assert out.shape == (64, 64)
    assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 1  # a stretch would make it 2:1
    assert not out[:, :16].any() and not out[:, -16:].any()  # letterbox left and right


def test_mask_goes_through_the_same_crop_and_flip_as_its_image():
    # the image encodes its own mask: red = 255 exactly where the (asymmetric) mask is set
    rng = np.random.default_rng(0)
    mask = np.zeros((70, 30), np.uint8)
    mask[5:40, 3:12] = 255
    mask[50:66, 20:28] = 255
    rgb = np.stack([mask, rng.integers(0, 255, mask.shape, dtype=np.uint8), np.full_like(mask, 90)], -1)
    image, mask_img = Image.fromarray(rgb, "RGB"), Image.fromarray(mask, "L")
    t = PairTransform(64, 32, 72, 36, flip=True, pad_mode="edge")
    flips = set()
    for seed in range(12):
        params = t.draw(np.random.default_rng(seed))
        flips.add(params.flip)
        out_img, out_mask = t(image, mask_img, params)
        red = np.asarray(out_img)[..., 0] > 127
        m = np.asarray(out_mask) > 127
        assert red.shape == m.shape == (64, 32)
        assert (red != m).mean() < 0.03, params  # only resampling at the edges may differ
    assert flips == {True, False}


def test_epoch_plans_are_reproducible_and_cover_the_larger_domain(generated, real_root):
    opts = RefinerOptions(height=64, width=32)
    t = PairTransform(64, 32, *opts.load_size, True, "edge")
    pairs = UnalignedPairs(load_domain(generated, ["all"]), load_domain(real_root), ItemMasks(), NoMasks(), t, seed=3)
    assert pairs.epoch_plan(2) == pairs.epoch_plan(2) != pairs.epoch_plan(3)
    plan = pairs.epoch_plan(0)
    assert len(plan) == 32 and sorted(a for a, _ in plan) == list(range(32))
    pairs.set_epoch(1, start=5)
    assert pairs.plan == pairs.epoch_plan(1)[5:]
    item = pairs[0]
    assert item["A"].shape == (3, 64, 32) and item["A_mask"].shape == (1, 64, 32)
    assert item["A_has_mask"] and not item["B_has_mask"]
    assert float(item["A_mask"].max()) == 1.0 and float(item["B_mask"].max()) == 0.0
    pairs.set_epoch(1, start=5)
    again = pairs[0]
    assert torch.equal(item["A"], again["A"]) and torch.equal(item["B"], again["B"])


def test_options_validation_names_the_field():
    with pytest.raises(OptionsError, match="`width`"):
        RefinerOptions(width=30).validate()
    with pytest.raises(OptionsError, match="`person_loss_norm`"):
        RefinerOptions(person_loss_norm="l3").validate()
    with pytest.raises(OptionsError, match="colour"):
        RefinerOptions.from_dict({"colour": 1})
    opts = RefinerOptions(model="ptgan", width=64, height=128, source_subsets=["all"])
    assert RefinerOptions.from_dict(opts.to_dict()) == opts
