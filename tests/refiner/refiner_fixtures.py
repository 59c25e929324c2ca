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


def save_untrained_reid_checkpoint(path):
    """An untrained re-id network saved as the re-id trainer saves it: a real embedding, no training."""
    from reid.engine import CHECKPOINT_FORMAT, save_checkpoint
    from reid.models import build_model
    from reid.options import TrainOptions

    opt = TrainOptions(data="d", output="o", height=32, width=16)
    model = build_model(opt.arch, 5, opt.features, opt.dropout, "", opt.last_stride)
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "version": 1, "options": opt.to_dict(), "arch": opt.arch,
                           "num_classes": 5, "model": model.state_dict()})
    return path
