"""Image transforms with torchvision: resize to the network's input, the training
augmentations of an `augment.Augment`, normalisation.

The reference pipeline (``cache_images = false``) and evaluation use these; training by
default augments decoded tensors with `augment.Augment` itself, which this pipeline is the
tested reference of (tests/reid/test_reid_augment.py).
"""
from __future__ import annotations

from .augment import ERASE_AREA, ERASE_ASPECT, IMAGENET_MEAN, IMAGENET_STD, Augment


def build_transforms(height: int, width: int, train: bool = False, augment: Augment | None = None):
    """torchvision transform pipeline. Crops of any aspect ratio are resized to height × width
    (Open-ReID does the same). With `train`, `augment`'s random steps (default `Augment()`:
    flips only) follow: flip, pad-and-random-crop, colour jitter, grey copies, then after
    normalisation random erasing."""
    from torchvision import transforms as T

    a = augment or Augment()
    steps = [T.Resize((height, width))]
    if train:
        if a.flip:
            steps.append(T.RandomHorizontalFlip())
        if a.pad > 0:
            steps += [T.Pad(a.pad), T.RandomCrop((height, width))]
        if a.colour_jitter > 0:
            s = a.colour_jitter
            steps.append(T.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 4)))
        if a.grayscale > 0:
            steps.append(T.RandomGrayscale(a.grayscale))
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if train and a.random_erasing > 0:
        # value 0 after normalisation fills with the mean colour.
        steps.append(T.RandomErasing(p=a.random_erasing, scale=ERASE_AREA, ratio=ERASE_ASPECT, value=0))
    return T.Compose(steps)
