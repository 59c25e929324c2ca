"""GAN refiners that make generated people look like a target camera's images.

CycleGAN (Zhu et al. 2017, as in junyanz/pytorch-CycleGAN-and-pix2pix) and PTGAN (Wei et
al. 2018: CycleGAN plus a person identity loss on the foreground), for non-square person
crops. Python API::

    from refiner import RefinerOptions, train, apply
    opts = RefinerOptions(model="ptgan", height=256, width=128)
    run = train(opts, "datasets/generated", "datasets/market1501", "runs/ptgan",
                target_masks="folder:datasets/market1501_masks")
    apply(run.latest_checkpoint, "datasets/generated", "datasets/generated-refined")

Also: a person segmenter trained on our renders (`refiner.segmenter`), SPGAN's similarity
loss (`refiner.similarity`), a refiner without a GAN (`refiner.stats_match`) and an identity
check of a refined copy (`refiner.identity_check`).

Command line: `python -m refiner train|apply|masks|match|segmenter|identity-check|options`
(see docs/refiner.md).
"""
from .options import OptionsError, RefinerOptions

__all__ = ["RefinerOptions", "OptionsError", "train", "apply", "RefinerModel", "load_generator_model"]


def __getattr__(name):  # torch-heavy parts load on first use
    if name == "train":
        from .train import train

        return train
    if name == "apply":
        from .apply import apply

        return apply
    if name in ("RefinerModel", "load_generator_model"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'refiner' has no attribute {name!r}")
