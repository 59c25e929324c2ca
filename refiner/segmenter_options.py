"""The options of the person segmenter (`refiner.segmenter`), torch-free so `--help` stays quick."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from synth_humans_addon.core.cli_conventions import device_name_problem
from synth_humans_addon.core.typed_options import check_bounds

from .options import OptionsError

MINIMUM = {"depth": 1, "base": 1, "epochs": 1, "batch_size": 1, "threads": 0, "degrade": 0, "channel_shuffle": 0,
           "weight_decay": 0, "load_scale": 1}
MAXIMUM = {"depth": 5, "degrade": 1, "channel_shuffle": 1}  # the two probabilities: 0 to 1


@dataclass
class SegmenterOptions:
    """The network, its training and its augmentation."""

    height: int = 128  # input height (crops are fitted in keeping their aspect; a multiple of 2^depth)
    width: int = 64  # input width (a multiple of 2^depth)
    base: int = 16  # channels of the U-Net's first level (doubled per level)
    depth: int = 4  # downsamplings of the U-Net
    epochs: int = 12  # passes over the training identities' images
    batch_size: int = 32  # images per step
    lr: float = 3e-3  # AdamW learning rate (cosine decay to 0.02 of it over the run)
    weight_decay: float = 1e-4  # AdamW weight decay
    held_out: float = 0.15  # fraction of identities held out for the IoU (split by identity, seeded)
    degrade: float = 0.6  # probability that an image gets the camera augmentation (blur, noise, JPEG, light)
    channel_shuffle: float = 0.2  # probability of permuting R, G, B (shape over colour: real clothes differ from ours)
    load_scale: float = 1.15  # crop jitter: fit into a frame this much larger, then random-crop (1 = none)
    seed: int = 0  # identity split, initialisation, order and augmentation
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int = 0  # CPU threads for torch (0 = torch's default; on a busy shared machine 1 is faster)

    def validate(self) -> "SegmenterOptions":
        def bad(name: str, why: str):
            raise OptionsError.of_field("segmenter", name, getattr(self, name), why)

        check_bounds(self, "segmenter", OptionsError, None, MINIMUM, MAXIMUM,
                     also=lambda name, value: device_name_problem(value) if name == "device" else None)
        step = 2 ** self.depth
        for name in ("height", "width"):
            if getattr(self, name) < step or getattr(self, name) % step:
                bad(name, f"must be a positive multiple of {step} (2^depth)")
        if not 0 < self.held_out < 1:
            bad("held_out", "must be between 0 and 1")
        if self.lr <= 0:
            bad("lr", "must be positive")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SegmenterOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names}).validate()
