"""Getting masks for a real dataset: the folder writer and the built-in segmenter's plumbing."""
import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from refiner.data import FolderMasks, load_domain  # noqa: E402
from refiner.masks import deeplab_person_segmenter, segment_folder  # noqa: E402
from refiner_fixtures import threshold_segmenter  # noqa: E402


def test_segment_folder_writes_masks_that_folder_masks_reads(real_root, tmp_path):
    n = segment_folder(real_root, tmp_path / "masks", threshold_segmenter, progress=False)
    domain = load_domain(real_root)
    assert n == len(domain) == 32
    source = FolderMasks(tmp_path / "masks")
    for item in domain.items[:5]:
        image = Image.open(item.image).convert("RGB")
        assert np.array_equal(np.asarray(source(item, image)), threshold_segmenter(image))


def test_deeplab_segmenter_returns_a_mask_of_the_image_size():
    tv = pytest.importorskip("torchvision")
    assert tv
    segment = deeplab_person_segmenter("cpu", weights=None, min_height=64)  # untrained: plumbing only
    mask = segment(Image.new("RGB", (32, 64), (120, 90, 60)))
    assert mask.shape == (64, 32) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
