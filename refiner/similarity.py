"""SPGAN's similarity-preserving loss: a translated image stays near its source, away from target people.

Deng et al. 2018 (SPGAN) add to CycleGAN a contrastive loss in the space of an embedding:
a translated image and its source are a positive pair, a translated image and an image of
the other domain (another person) a negative one:

    positives  (a, G_A(a)), (b, G_B(b))        → ½·d²
    negatives  (G_A(a), b), (G_B(b), a)        → ½·max(0, margin − d)²

on L2-normalised embeddings (so distances lie in [0, 2] and SPGAN's margin 2 pushes every
negative pair apart). The generators minimise it through a frozen embedding. The embedding is
either SPGAN's small Siamese network, trained jointly on the same pairs with the translations
detached (`SiameseNet`), or the embedding of one of the project's re-id checkpoints, frozen
(`ReidEmbedding`). Negative pairs of a translation and a target image are the reason a
translation cannot keep its identity by style alone: they look alike in style, so only the
person can tell them apart.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

JOINT = "joint"


class SiameseNet(nn.Module):
    """SPGAN's SiaNet, frame-size free: three (4×4 stride-2 conv, LeakyReLU, 2×2 max-pool)
    blocks of width w, 2w, 4w, a global average pool, FC 4w → 2w → w, L2-normalised."""

    def __init__(self, input_nc: int = 3, width: int = 64):
        super().__init__()
        layers, cin = [], input_nc
        for cout in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True), nn.MaxPool2d(2, ceil_mode=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(4 * width, 2 * width), nn.LeakyReLU(0.2, True), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x).mean((2, 3))), dim=1)


class ReidEmbedding(nn.Module):
    """A re-id checkpoint's embedding of refiner images ([-1, 1], any frame): resized to the
    checkpoint's input, ImageNet-normalised as the re-id trainer does, L2-normalised. Frozen and
    always in eval mode (batch norm statistics of the re-id training stay)."""

    def __init__(self, checkpoint: str, device: torch.device | str = "cpu"):
        super().__init__()
        from reid import model_from_checkpoint
        from reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD

        with warnings.catch_warnings():  # torch warns about a foreign file before reid says what it is
            warnings.simplefilter("ignore", UserWarning)
            model, opts = model_from_checkpoint(checkpoint, device)
        self.model = model.eval().requires_grad_(False)
        self.size = opts.input_size()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> "ReidEmbedding":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x.float(), size=self.size, mode="bilinear", align_corners=False)
        x = ((x + 1) / 2 - self.mean.to(x.device)) / self.std.to(x.device)
        return F.normalize(self.model(x).embedding.float(), dim=1)


def contrastive_loss(e1: torch.Tensor, e2: torch.Tensor, positive: bool, margin: float) -> torch.Tensor:
    """Mean of ½·d² (positive pairs) or ½·max(0, margin − d)² (negative pairs) over the rows."""
    d = (e1.float() - e2.float()).pow(2).sum(1).clamp_min(1e-12).sqrt()
    return 0.5 * (d.pow(2) if positive else (margin - d).clamp_min(0).pow(2)).mean()


def similarity_losses(embed: nn.Module, real_a: torch.Tensor, fake_b: torch.Tensor, real_b: torch.Tensor,
                      fake_a: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(A side, B side): each translation's positive pair with its source plus its negative pair
    with the other domain's image. One embedding call on all four stacked (exact: the
    embeddings have no batch statistics in use)."""
    n = real_a.shape[0]
    e = embed(torch.cat([real_a, fake_b, real_b, fake_a], 0))
    e_ra, e_fb, e_rb, e_fa = e[:n], e[n:2 * n], e[2 * n:3 * n], e[3 * n:]
    side_a = contrastive_loss(e_ra, e_fb, True, margin) + contrastive_loss(e_fb, e_rb, False, margin)
    side_b = contrastive_loss(e_rb, e_fa, True, margin) + contrastive_loss(e_fa, e_ra, False, margin)
    return side_a, side_b


def build_embedding(embedding: str, input_nc: int, width: int, device: torch.device | str) -> nn.Module:
    """The joint Siamese network, or the frozen embedding of the re-id checkpoint at `embedding`."""
    if embedding == JOINT:
        return SiameseNet(input_nc, width)
    return ReidEmbedding(embedding, device)
