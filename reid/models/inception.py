"""Open-ReID's small Inception network (Xiao et al., "Learning deep feature representations
with domain guided dropout", 2016), used by the source study and trained from scratch.

Three 3×3 conv-BN-ReLU layers of 32 channels and a 3×3/2 max-pool, then six inception
blocks 64A, 64M, 128A, 128M, 256A, 256M ("A": four branches — 1×1→3×3, 1×1→3×3→3×3, 1×1
and avg-pool→1×1 — concatenated, stride 1; "M": the two conv branches with stride 2 plus a
stride-2 max-pool of the input), global average pooling, and a 128-d embedding (linear,
BN, ReLU), dropout 0.5, and the identity classifier g. Input 144×56 by default.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, bias=False),
                         nn.BatchNorm2d(out_planes), nn.ReLU(inplace=True))


class InceptionBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, pool: str, stride: int):
        super().__init__()
        branches = [
            nn.Sequential(_conv(in_planes, out_planes, 1, padding=0), _conv(out_planes, out_planes, stride=stride)),
            nn.Sequential(_conv(in_planes, out_planes, 1, padding=0), _conv(out_planes, out_planes),
                          _conv(out_planes, out_planes, stride=stride)),
        ]
        if pool == "avg":
            if stride != 1:
                raise ValueError("average-pool blocks have stride 1")
            branches.append(_conv(in_planes, out_planes, 1, padding=0))
            branches.append(nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_planes, out_planes, 1, padding=0)))
            self.out_planes = out_planes * 4
        else:
            branches.append(nn.MaxPool2d(3, stride=stride, padding=1))
            self.out_planes = out_planes * 2 + in_planes
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class InceptionBackbone(nn.Module):
    """Open-ReID's InceptionNet up to global pooling; `out_features` = 1536."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = [_conv(3, 32), _conv(32, 32), _conv(32, 32), nn.MaxPool2d(3, stride=2, padding=1)]
        planes = 32
        for width, pool, stride in ((64, "avg", 1), (64, "max", 2), (128, "avg", 1), (128, "max", 2),
                                    (256, "avg", 1), (256, "max", 2)):
            block = InceptionBlock(planes, width, pool, stride)
            layers.append(block)
            planes = block.out_planes
        self.features = nn.Sequential(*layers)
        self.out_features = planes
        for m in self.modules():  # Open-ReID's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
