"""ResNet-50 backbone (torchvision, never downloaded) for the BNNeck head."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class ResNet50Backbone(nn.Module):
    """torchvision ResNet-50 up to global average pooling (2048-d).

    `weights_file`: a state dict of torchvision's ResNet-50 (e.g. ImageNet weights the user
    downloaded); the `fc` layer is ignored. `last_stride` 1 keeps a 16×8 final map for a
    256×128 input (a common re-id trick).
    """

    def __init__(self, weights_file: str = "", last_stride: int = 1):
        super().__init__()
        from torchvision.models import resnet50

        net = resnet50(weights=None)
        if weights_file:
            path = Path(weights_file).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"pretrained weights file {path}: not found")
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = net.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.startswith("fc.")]
            if missing or unexpected:
                raise ValueError(f"{path}: not a torchvision ResNet-50 state dict "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        if last_stride == 1:
            net.layer4[0].conv2.stride = (1, 1)
            net.layer4[0].downsample[0].stride = (1, 1)
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                                  net.layer4)
        self.out_features = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1)
