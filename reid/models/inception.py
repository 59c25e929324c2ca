"""Open-ReID's small Inception network (Xiao et al., "Learning deep feature representations
with domain guided dropout", 2016), used by the source study and trained from scratch.

Three 3×3 conv-BN-ReLU layers of 32 channels and a 3×3/2 max-pool, then six inception
blocks 64A, 64M, 128A, 128M, 256A, 256M ("A": four branches — 1×1→3×3, 1×1→3×3→3×3, 1×1
and avg-pool→1×1 — concatenated, stride 1; "M": the two conv branches with stride 2 plus a
stride-2 max-pool of the input), global average pooling, and a 128-d embedding (linear,
BN, ReLU), dropout 0.5, and the identity classifier g. Input 144×56 by default.

``ibn=True`` (arch ``inception-ibn``) swaps batch norm for IBN-a's mix (Pan et al., "Two at
once: enhancing learning and generalization capacities via IBN-Net", 2018) in the stem and
the first two inception blocks: half of each layer's channels are instance-normalised, the
other half batch-normalised. Instance norm in the shallow layers removes each image's own
contrast and colour cast, which differ between a generated and a real camera, while the
deep layers keep batch norm's discriminative statistics; the network is otherwise the same.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class IBN(nn.Module):
    """IBN-a's normalisation: instance norm (affine) on the first half of the channels, batch
    norm on the rest."""

    def __init__(self, planes: int):
        super().__init__()
        self.half = planes // 2
        self.instance = nn.InstanceNorm2d(self.half, affine=True)
        self.batch = nn.BatchNorm2d(planes - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(x, [self.half, x.shape[1] - self.half], 1)
        return torch.cat([self.instance(a.contiguous()), self.batch(b.contiguous())], 1)


def _conv(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
          ibn: bool = False) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, bias=False),
                         IBN(out_planes) if ibn else nn.BatchNorm2d(out_planes), nn.ReLU(inplace=True))


class InceptionBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, pool: str, stride: int, ibn: bool = False):
        super().__init__()
        branches = [
            nn.Sequential(_conv(in_planes, out_planes, 1, padding=0, ibn=ibn),
                          _conv(out_planes, out_planes, stride=stride)),
            nn.Sequential(_conv(in_planes, out_planes, 1, padding=0, ibn=ibn), _conv(out_planes, out_planes),
                          _conv(out_planes, out_planes, stride=stride)),
        ]
        if pool == "avg":
            if stride != 1:
                raise ValueError("average-pool blocks have stride 1")
            branches.append(_conv(in_planes, out_planes, 1, padding=0, ibn=ibn))
            branches.append(nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1),
                                          _conv(in_planes, out_planes, 1, padding=0, ibn=ibn)))
            self.out_planes = out_planes * 4
        else:
            branches.append(nn.MaxPool2d(3, stride=stride, padding=1))
            self.out_planes = out_planes * 2 + in_planes
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class InceptionBackbone(nn.Module):
    """Open-ReID's InceptionNet up to global pooling; `out_features` = 1536. `ibn`: IBN-a in
    the stem and the first two blocks (the 64-wide ones)."""

    IBN_BLOCKS = 2  # shallow blocks that mix instance norm in (IBN-a keeps it out of the deep ones)

    def __init__(self, ibn: bool = False):
        super().__init__()
        layers: list[nn.Module] = [_conv(3, 32, ibn=ibn), _conv(32, 32, ibn=ibn), _conv(32, 32, ibn=ibn),
                                   nn.MaxPool2d(3, stride=2, padding=1)]
        planes = 32
        for i, (width, pool, stride) in enumerate(((64, "avg", 1), (64, "max", 2), (128, "avg", 1), (128, "max", 2),
                                                   (256, "avg", 1), (256, "max", 2))):
            block = InceptionBlock(planes, width, pool, stride, ibn=ibn and i < self.IBN_BLOCKS)
            layers.append(block)
            planes = block.out_planes
        self.features = nn.Sequential(*layers)
        self.out_features = planes
        for m in self.modules():  # Open-ReID's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
