"""What the study's stages hand each other: a dataset, a trained model, a test set's query and gallery.

One module of plain dataclasses that `stages` and `reid_adapter` both read, so neither imports the other
for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class DataRef:
    """A dataset a stage reads: our format (generated/refined) or a real one in any layout."""

    path: Path
    layout: str = "generated"  # or the real data's layout (auto, cuhk03, market1501, ...: reid.data.registry)
    name: str = ""
    real: bool = False
    # `folder` layout: split it by identity, or take it whole as the training or the test side
    folder_role: str = "split"


@dataclass
class ModelRef:
    path: Path  # the stage folder of a reid-train or finetune stage
    checkpoint: Path | None = None
    baseline: str = ""  # a non-learned model (reid.baselines) instead of a trained one


@dataclass
class TestSplit:
    """Query and gallery images of a test set with their identities and cameras."""

    query: list[Path]
    q_pids: np.ndarray
    q_camids: np.ndarray
    gallery: list[Path]
    g_pids: np.ndarray
    g_camids: np.ndarray
    market_layout: bool = True  # query/gallery folders as Market-1501 has them (its protocol applies)
