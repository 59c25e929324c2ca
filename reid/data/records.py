"""The typed records every loader returns: image items and a dataset's train/validation/test sets."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageItem:
    """One labelled image: file, identity (−1 = junk, 0 = Market-1501 distractor) and camera."""

    path: str
    pid: int
    camid: int


@dataclass
class ReidData:
    """A re-id dataset split into its sets.

    ``validation`` holds whole identities disjoint from train and test (the study selects
    models on them). ``query``/``gallery`` are the test sets; with the ``cuhk03`` protocol
    every test image (query ∪ gallery) is a query. ``protocols`` are the evaluation
    protocols that suit this dataset's test set by default.
    """

    name: str
    layout: str
    train: list[ImageItem]
    query: list[ImageItem]
    gallery: list[ImageItem]
    validation: list[ImageItem] = field(default_factory=list)
    protocols: tuple[str, ...] = ("cross-camera", "market1501")  # reid.metrics.PROTOCOLS
    skipped: list[str] = field(default_factory=list)  # unreadable files, reported by path

    @property
    def train_pids(self) -> list[int]:
        return sorted({it.pid for it in self.train})

    def summary(self) -> dict:
        def ids(items):
            return len({it.pid for it in items})

        return {"name": self.name, "layout": self.layout,
                **{f"{k}_images": len(getattr(self, k)) for k in ("train", "validation", "query", "gallery")},
                **{f"{k}_identities": ids(getattr(self, k)) for k in ("train", "validation", "query", "gallery")},
                "skipped_files": len(self.skipped)}
