"""The options of the person segmenter (`refiner.segmenter`), torch-free so `--help` stays quick."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from synth_humans_addon.core.cli_conventions import device_name_problem

from .options import OptionsError


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
        step = 2 ** self.depth

        def bad(name: str, why: str):
            raise OptionsError(f"segmenter option `{name}` = {getattr(self, name)!r}: {why}", name, getattr(self, name),
                               why)

        if not 1 <= self.depth <= 5:
            bad("depth", "must be 1 to 5")
        for name in ("height", "width"):
            if getattr(self, name) < step or getattr(self, name) % step:
                bad(name, f"must be a positive multiple of {step} (2^depth)")
        for name in ("base", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                bad(name, "must be at least 1")
        if self.threads < 0:
            bad("threads", "must not be negative")
        if not 0 < self.held_out < 1:
            bad("held_out", "must be between 0 and 1")
        for name in ("degrade", "channel_shuffle"):
            if not 0 <= getattr(self, name) <= 1:
                bad(name, "is a probability: 0 to 1")
        if self.lr <= 0 or self.weight_decay < 0:
            bad("lr" if self.lr <= 0 else "weight_decay", "must be positive" if self.lr <= 0 else "must not be negative")
        if self.load_scale < 1:
            bad("load_scale", "must be at least 1")
        if device_name_problem(self.device):
            bad("device", device_name_problem(self.device))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SegmenterOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names}).validate()
