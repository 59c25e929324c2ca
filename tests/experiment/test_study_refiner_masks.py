"""The study's refiner stage hands its mask sources to the refiner: PTGAN toward a maskless
folder of crops (a real camera) trains once `target_masks = "none"` is given, and refuses
with a clear message without it."""
import shutil

import pytest

pytest.importorskip("torch")

from study.refs import DataRef  # noqa: E402
from study.stages import PackageBackend  # noqa: E402
from reid.data.synthetic import make_procedural_dataset, small_spec  # noqa: E402

pytestmark = pytest.mark.torch
TINY = {"model": "ptgan", "n_epochs": 1, "n_epochs_decay": 0, "height": 64, "width": 32, "load_scale": 1.0,
        "ngf": 4, "ndf": 4, "n_blocks": 1, "save_every_epochs": 1, "sample_count": 2}


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptgan")
    source = make_procedural_dataset(root / "generated", small_spec(4, 2, validation=0, test=0, crop_height=32))
    target = root / "camera"  # plain crops, no masks: what a real camera gives
    target.mkdir()
    for i, jpg in enumerate(sorted((source / "bounding_box_train").glob("*.jpg"))[:6]):
        shutil.copy(jpg, target / f"{i:04d}_c1_00.jpg")
    return DataRef(str(source), layout="generated", name="G"), DataRef(str(target), layout="folder", name="R",
                                                                          real=True)


def test_ptgan_toward_a_maskless_camera_trains_with_target_masks_none(domains, tmp_path):
    source, target = domains
    ckpt = PackageBackend(quiet=True).refine_train(source, target, {**TINY, "target_masks": "none"},
                                                   tmp_path / "run", device="cpu")
    assert ckpt.is_file()


def test_ptgan_without_target_masks_names_the_option(domains, tmp_path):
    source, target = domains
    with pytest.raises(Exception, match="person masks for the target domain"):
        PackageBackend(quiet=True).refine_train(source, target, dict(TINY), tmp_path / "run", device="cpu")
