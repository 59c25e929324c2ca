"""Non-learned baselines that `reid evaluate` scores beside trained models.

``colour-histogram``: each crop is resized to a fixed frame, cut into 6 horizontal stripes,
and every stripe is described by its hue, saturation and value histograms (16 + 8 + 8 bins,
each normalised to sum 1). The embedding is the square root of the concatenation (the
Hellinger map), so the Euclidean distance between two embeddings is the Hellinger distance
of the histograms. No learning at all: a dataset whose model loses to this row teaches
less than colour alone knows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .options import BASELINES

COLOUR_HISTOGRAM = "colour-histogram"


@dataclass(frozen=True)
class ColourHistogram:
    stripes: int = 6
    hue_bins: int = 16
    saturation_bins: int = 8
    value_bins: int = 8
    height: int = 128  # every crop is resized to this frame first, so stripes are comparable
    width: int = 48

    @property
    def dim(self) -> int:
        return self.stripes * (self.hue_bins + self.saturation_bins + self.value_bins)

    def describe(self, image: Image.Image) -> np.ndarray:
        hsv = np.asarray(image.convert("RGB").resize((self.width, self.height), Image.BILINEAR).convert("HSV"))
        parts = []
        for rows in np.array_split(np.arange(self.height), self.stripes):
            stripe = hsv[rows]
            for ch, bins in enumerate((self.hue_bins, self.saturation_bins, self.value_bins)):
                h = np.bincount(((stripe[..., ch].astype(np.int32) * bins) >> 8).ravel(), minlength=bins).astype(np.float64)
                parts.append(h / max(h.sum(), 1.0))
        return np.sqrt(np.concatenate(parts)).astype(np.float32)


def baseline_features(name: str, paths: list[str]) -> np.ndarray:
    """N × D embeddings of the images at `paths` under baseline `name`; an unreadable image
    becomes an all-zero row (as the trained models' blank input does)."""
    if name != COLOUR_HISTOGRAM:
        raise ValueError(f"baseline {name!r}: expected one of {', '.join(BASELINES)}")
    model = ColourHistogram()
    out = np.zeros((len(paths), model.dim), np.float32)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                out[i] = model.describe(im)
        except OSError:  # unreadable file: a blank row, as EvalImages gives a blank input
            pass
    return out
