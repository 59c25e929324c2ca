"""torch Datasets over ImageItem lists; unreadable images never stop a run."""
from __future__ import annotations

import logging

import torch
from PIL import Image

from .records import ImageItem

log = logging.getLogger(__name__)


def _load(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


class TrainImages(torch.utils.data.Dataset):
    """(image, label) pairs with labels 0…M−1 in sorted identity order.

    An image that fails to decode is reported by path and replaced by another image of the
    same identity (or of the next one), so a long run does not crash on one bad file.
    """

    def __init__(self, items: list[ImageItem], transform):
        self.items = items
        self.transform = transform
        self.pids = sorted({it.pid for it in items})
        self.label_of = {p: i for i, p in enumerate(self.pids)}
        self.labels = [self.label_of[it.pid] for it in items]
        self.bad: set[str] = set()

    @property
    def num_classes(self) -> int:
        return len(self.pids)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        for attempt in range(len(self.items)):
            it = self.items[(index + attempt) % len(self.items)]
            if it.path in self.bad:
                continue
            try:
                img = _load(it.path)
            except (OSError, ValueError) as exc:
                log.warning("unreadable training image %s (%s): using another one", it.path, exc)
                self.bad.add(it.path)
                continue
            return self.transform(img), self.label_of[it.pid]
        raise RuntimeError("no readable training image left")


class EvalImages(torch.utils.data.Dataset):
    """(image, index) pairs; an unreadable image is reported and becomes a blank (zero) input."""

    def __init__(self, items: list[ImageItem], transform, height: int, width: int):
        self.items = items
        self.transform = transform
        self.shape = (3, height, width)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path = self.items[index].path
        try:
            return self.transform(_load(path)), index
        except (OSError, ValueError) as exc:
            log.warning("unreadable image %s (%s): its features come from a blank image", path, exc)
            return torch.zeros(self.shape), index
