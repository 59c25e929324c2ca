"""Losses: cross-entropy with optional label smoothing, and the batch-hard triplet loss."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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
