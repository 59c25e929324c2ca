"""Fixtures of the refiner tests: two tiny procedural domains and tiny network options."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from refiner.synthetic import make_generated_dataset, make_real_domain  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """The test machine is shared: one torch thread per test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A synth-humans dataset: 8 characters × 4 drawn images, 64 px high, exact masks."""
    return make_generated_dataset(tmp_path_factory.mktemp("domains") / "generated", characters=8,
                                  images_per_character=4, height=64, seed=0)


@pytest.fixture(scope="session")
def real_root(tmp_path_factory):
    """A stand-in real camera domain (darker, blue, blurred, noisy) in Market-1501 layout with masks."""
    return make_real_domain(tmp_path_factory.mktemp("domains") / "real", count=32, height=64, seed=1,
                            layout="market1501", with_masks=True)
