"""Re-id networks: a backbone, an embedding head and the identity classifier g.

``inception`` (the study's setup, Open-ReID): embedding = ReLU(BN(Linear(1536 → 128))),
dropout 0.5 in training, classifier g on the dropped-out embedding; evaluation uses the
128-d embedding (Open-ReID's softmax example evaluates the classifier's logits instead,
which only exist for the training identities).

``inception-ibn``: the same network with IBN-a's instance/batch-norm mix in its shallow
layers (:mod:`.inception`), the learner meant to generalise from generated to real cameras.

``resnet50`` (modern): BNNeck (Luo et al. 2019): the pooled 2048-d feature feeds the
triplet loss, its batch-normalised version (BN without bias) feeds a bias-free classifier
and is the evaluation embedding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ARCHS = ("inception", "inception-ibn", "resnet50")
DEFAULT_INPUT = {"inception": (144, 56), "inception-ibn": (144, 56), "resnet50": (256, 128)}


@dataclass
class ReidOutput:
    logits: torch.Tensor | None  # identity scores (training only)
    triplet_features: torch.Tensor  # what the metric-learning loss sees
    embedding: torch.Tensor  # what evaluation compares (Euclidean distance)


class ReidNet(nn.Module):
    def __init__(self, arch: str, num_classes: int, features: int = 128, dropout: float = 0.5,
                 weights_file: str = "", last_stride: int = 1):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch {arch!r}: expected one of {', '.join(ARCHS)}")
        self.arch = arch
        if arch.startswith("inception"):
            from .inception import InceptionBackbone

            if weights_file:
                raise ValueError("weights_file: only the resnet50 backbone loads pretrained weights")
            self.backbone = InceptionBackbone(ibn=arch == "inception-ibn")
            self.neck = nn.Sequential(nn.Linear(self.backbone.out_features, features), nn.BatchNorm1d(features),
                                      nn.ReLU(inplace=True))
            nn.init.kaiming_normal_(self.neck[0].weight, mode="fan_out")
            nn.init.constant_(self.neck[0].bias, 0)
            self.embedding_dim = features
            self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
            self.classifier_bias = True
        else:
            from .resnet import ResNet50Backbone

            self.backbone = ResNet50Backbone(weights_file, last_stride)
            bn = nn.BatchNorm1d(self.backbone.out_features)
            bn.bias.requires_grad_(False)  # BNNeck: no shift, so the classifier sees a centred feature
            self.neck = bn
            self.embedding_dim = self.backbone.out_features
            self.drop = nn.Identity()
            self.classifier_bias = False
        self.classifier = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        fc = nn.Linear(self.embedding_dim, num_classes, bias=self.classifier_bias)
        nn.init.normal_(fc.weight, std=0.001)
        if fc.bias is not None:
            nn.init.constant_(fc.bias, 0)
        return fc

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    def reset_classifier(self, num_classes: int) -> None:
        """Finetuning: a fresh classifier g for `num_classes` new identities."""
        device = self.classifier.weight.device
        self.classifier = self._new_classifier(num_classes).to(device)

    def embedding_parameters(self):
        """Every parameter but the classifier's (the embedding network)."""
        return [p for n, p in self.named_parameters() if not n.startswith("classifier.")]

    def forward(self, x: torch.Tensor) -> ReidOutput:
        pooled = self.backbone(x)
        emb = self.neck(pooled)
        if not self.training:
            return ReidOutput(None, pooled if self.arch == "resnet50" else emb, emb)
        logits = self.classifier(self.drop(emb))
        return ReidOutput(logits, pooled if self.arch == "resnet50" else emb, emb)


def build_model(arch: str, num_classes: int, features: int = 128, dropout: float = 0.5, weights_file: str = "",
                last_stride: int = 1) -> ReidNet:
    return ReidNet(arch, num_classes, features, dropout, weights_file, last_stride)


def count_parameters(model: nn.Module, include_classifier: bool = False) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if include_classifier or not n.startswith("classifier."))
