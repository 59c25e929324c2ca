"""Training augmentation: the settings (`Augment`) and their fast implementation on uint8
tensor batches, which the decode-once path (`cached.CachedBatches`) applies in the training
process.

`transforms.build_transforms` applies the same settings with torchvision on PIL images (the
reference pipeline, ``cache_images = false``); tests/reid/test_reid_augment.py checks that the
two agree in distribution: per-pixel mean and spread, flip, grey and erasing rates, the
erased area, and the spread of brightness and contrast.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# The networks' input normalisation (ImageNet's channel statistics), after augmentation.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Random erasing's rectangle: area (a fraction of the image) and aspect ranges of Zhong et
# al.'s Random Erasing (torchreid's too); torchvision's own default area tops out at 33 %.
_ERASE_AREA_MIN, _ERASE_AREA_SPAN = 0.02, 0.38
ERASE_AREA = (_ERASE_AREA_MIN, _ERASE_AREA_MIN + _ERASE_AREA_SPAN)
ERASE_ASPECT = (0.3, 1 / 0.3)


@dataclass(frozen=True)
class Augment:
    """Training augmentations on uint8 batches (B × 3 × H × W), all drawn from one generator.

    flip: horizontal flip with probability ½; pad: pad-and-random-crop jitter in pixels
    (zero padding, as ``T.Pad``); colour_jitter: brightness, contrast and saturation factors
    drawn from [1 − s, 1 + s] and a hue shift from [−s/4, s/4] of a turn; grayscale:
    probability of a grey copy; random_erasing: probability of one erased rectangle
    (area `ERASE_AREA`, aspect `ERASE_ASPECT`, filled with the mean colour, as ``T.RandomErasing``
    after normalisation with value 0).
    """

    flip: bool = True
    pad: int = 0
    colour_jitter: float = 0.0
    grayscale: float = 0.0
    random_erasing: float = 0.0

    def __call__(self, frames: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = frames.float().div_(255.0)
        b, _, h, w = x.shape
        if self.flip:
            flip = torch.rand(b, generator=gen) < 0.5
            x[flip] = x[flip].flip(-1)
        if self.pad > 0:
            p = self.pad
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (b,), generator=gen)
            dx = torch.randint(0, 2 * p + 1, (b,), generator=gen)
            x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
        if self.colour_jitter > 0:
            x = _colour_jitter(x, self.colour_jitter, gen)
        if self.grayscale > 0:
            grey = torch.rand(b, generator=gen) < self.grayscale
            if grey.any():
                y = (0.299 * x[grey, 0] + 0.587 * x[grey, 1] + 0.114 * x[grey, 2]).unsqueeze(1)
                x[grey] = y.expand(-1, 3, -1, -1)
        x = normalise(x)
        if self.random_erasing > 0:
            _random_erase(x, self.random_erasing, gen)
        return x


def normalise(x: torch.Tensor) -> torch.Tensor:
    """In place: (x − ImageNet mean) / std per channel, as ``T.Normalize``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def _colour_jitter(x: torch.Tensor, s: float, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]

    def factors():
        return (1 - s + 2 * s * torch.rand(b, 1, 1, 1, generator=gen))

    x = x * factors()  # brightness
    mean = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean((1, 2)).view(b, 1, 1, 1)
    x = (x - mean) * factors() + mean  # contrast
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    x = (x - grey) * factors() + grey  # saturation
    # Hue: rotate the chroma around the grey axis (a YIQ rotation), cheap and differentiable.
    theta = (torch.rand(b, generator=gen) - 0.5) * (s / 2) * 2 * np.pi
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    rgb = torch.linalg.inv(yiq)
    c, sn = torch.cos(theta), torch.sin(theta)
    rot = torch.zeros(b, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -sn, sn, c
    m = rgb @ rot @ yiq  # b × 3 × 3
    x = torch.einsum("bij,bjhw->bihw", m, x)
    return x.clamp_(0, 1)


def _random_erase(x: torch.Tensor, p: float, gen: torch.Generator) -> None:
    b, _, h, w = x.shape
    for i in range(b):
        if torch.rand(1, generator=gen).item() >= p:
            continue
        for _ in range(10):
            area = h * w * (_ERASE_AREA_MIN + _ERASE_AREA_SPAN * torch.rand(1, generator=gen).item())
            log_lo, log_hi = np.log(ERASE_ASPECT[0]), np.log(ERASE_ASPECT[1])
            aspect = float(np.exp(log_lo + (log_hi - log_lo) * torch.rand(1, generator=gen).item()))
            eh, ew = int(round((area * aspect) ** 0.5)), int(round((area / aspect) ** 0.5))
            if eh < h and ew < w:
                y0 = int(torch.randint(0, h - eh + 1, (1,), generator=gen))
                x0 = int(torch.randint(0, w - ew + 1, (1,), generator=gen))
                x[i, :, y0:y0 + eh, x0:x0 + ew] = 0
                break
