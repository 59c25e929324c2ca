"""Image transforms: resize to the network's input, flips, random erasing, normalisation."""
from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_transforms(height: int, width: int, train: bool, flip: bool = True, random_erasing: float = 0.0,
                     pad: int = 0, colour_jitter: float = 0.0, grayscale: float = 0.0):
    """torchvision transform pipeline. Crops of any aspect ratio are resized to height × width
    (Open-ReID does the same); `pad` adds a pad-and-random-crop jitter of that many pixels."""
    from torchvision import transforms as T

    steps = [T.Resize((height, width))]
    if train:
        if flip:
            steps.append(T.RandomHorizontalFlip())
        if pad > 0:
            steps += [T.Pad(pad), T.RandomCrop((height, width))]
        if colour_jitter > 0:
            s = colour_jitter
            steps.append(T.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 4)))
        if grayscale > 0:
            steps.append(T.RandomGrayscale(grayscale))
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if train and random_erasing > 0:
        # value 0 after normalisation fills with the mean colour.
        steps.append(T.RandomErasing(p=random_erasing, value=0))
    return T.Compose(steps)
