"""Losses: cross-entropy with optional label smoothing, and the batch-hard triplet loss.

Training sums the terms of `LOSSES`, each times its weight (a term whose weight is 0 is off).
A new loss is its module here plus one entry in `LOSSES` (and its options in `reid/options.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from .options import TrainOptions


class CrossEntropyLabelSmooth(nn.Module):
    """Cross-entropy against (1 − ε)·one-hot + ε/M (Szegedy et al.); ε = 0 is plain softmax loss."""

    def __init__(self, epsilon: float = 0.0):
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.epsilon)


class BatchHardTripletLoss(nn.Module):
    """Hermans et al. 2017: for each anchor, its farthest positive and nearest negative in the
    batch; hinge with `margin`, or the soft-plus version when margin ≤ 0."""

    def __init__(self, margin: float = 0.3):
        super().__init__()
        self.margin = margin

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        dist = torch.cdist(features, features).clamp(min=1e-12)
        same = targets[:, None] == targets[None, :]
        hardest_pos = dist.masked_fill(~same, float("-inf")).max(1).values
        hardest_neg = dist.masked_fill(same, float("inf")).min(1).values
        ok = torch.isfinite(hardest_neg) & torch.isfinite(hardest_pos)  # anchors with a negative in the batch
        if not ok.any():
            return features.sum() * 0.0
        gap = hardest_pos[ok] - hardest_neg[ok]
        if self.margin > 0:
            return F.relu(gap + self.margin).mean()
        return F.softplus(gap).mean()


@dataclass(frozen=True)
class LossTerm:
    """One term of the training loss, built from the training options."""

    weight: Callable[["TrainOptions"], float]  # 0 leaves the term out
    build: Callable[["TrainOptions"], nn.Module]
    # "logits": the classifier's output, on each process's slice of the batch; "features": the
    # embedding of the whole batch (gathered from every process: batch-hard mining needs it all).
    on: str
    needs_pk: bool = False  # needs P×K batches (several images of each identity per batch)


LOSSES: dict[str, LossTerm] = {
    "softmax": LossTerm(weight=lambda opt: 1.0, build=lambda opt: CrossEntropyLabelSmooth(opt.label_smoothing),
                        on="logits"),
    "triplet": LossTerm(weight=lambda opt: opt.triplet_weight,
                        build=lambda opt: BatchHardTripletLoss(opt.triplet_margin), on="features", needs_pk=True),
}


def build_losses(opt: "TrainOptions") -> list[tuple[str, float, LossTerm, nn.Module]]:
    """(name, weight, term, module) of every term with a weight > 0, in `LOSSES` order."""
    return [(name, term.weight(opt), term, term.build(opt)) for name, term in LOSSES.items() if term.weight(opt) > 0]


def needs_pk(opt: "TrainOptions") -> bool:
    """True if a term in use needs P×K batches."""
    return any(term.needs_pk and term.weight(opt) > 0 for term in LOSSES.values())
