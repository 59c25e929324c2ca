"""Helpers shared by the refiner tests."""
from __future__ import annotations

from refiner.options import RefinerOptions


def tiny_options(**changes) -> RefinerOptions:
    """A small network on 64×32 crops: seconds per epoch on one CPU thread."""
    base = dict(height=64, width=32, ngf=8, ndf=8, n_blocks=2, n_epochs=1, n_epochs_decay=1, pool_size=10,
                source_subsets=["all"], device="cpu")
    base.update(changes)
    return RefinerOptions(**base).validate()


def threshold_segmenter(image):
    """A stand-in user segmentation function (python:refiner_fixtures:threshold_segmenter):
    everything brighter than the image's median counts as person."""
    import numpy as np

    grey = np.asarray(image.convert("L"), dtype=np.float32)
    return (grey > np.median(grey)).astype(np.uint8) * 255
