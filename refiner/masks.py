"""Person masks for a real dataset, for PTGAN's person identity loss.

`segment_folder` runs a segmentation network over every image of a folder (any layout) and
writes `<output>/<same relative path>.png` (8-bit L, 255 = person), which `FolderMasks` /
`--target-masks folder:<output>` then reads. The built-in network is torchvision's
DeepLabV3-ResNet50 (Pascal VOC classes, person = 15); its weights are downloaded by
torchvision on first use (~160 MB) into the torch hub cache. Any other model can be plugged
in as a function `f(PIL RGB image) -> H × W mask`.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from synth_humans_addon.core.cli_conventions import UserError
from synth_humans_addon.core.dataset import atomic_write
from torchkit.device import resolve_device

from .data import load_domain, mask_to_image
from .images import load_image

VOC_PERSON = 15
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def deeplab_person_segmenter(device: str = "auto", weights: str | None = "DEFAULT", min_height: int = 256,
                             weights_file: str | Path | None = None) -> Callable[[Image.Image], np.ndarray]:
    """A function image → uint8 mask from torchvision's DeepLabV3-ResNet50 (person class).

    Small re-id crops (Market-1501 is 128×64) are upscaled to `min_height` first: the network
    was trained on much larger images. `weights=None` builds an untrained network (tests).
    `weights_file`: a local copy of torchvision's weights (machines without network).
    """
    from torchvision.models.segmentation import deeplabv3_resnet50

    dev = resolve_device(device)
    if weights_file is not None:
        net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
        try:
            net.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise ValueError(f"--weights {weights_file}: not DeepLabV3-ResNet50 weights ({type(exc).__name__})"
                             ) from None
    else:
        try:
            net = deeplab_network(weights)
        except OSError as exc:  # urllib's URLError is an OSError: no network, proxy, firewall
            raise UserError(
                f"cannot download the DeepLabV3 weights ({getattr(exc, 'reason', exc)}). On a machine with network "
                f"run `python -m refiner masks` once (or fetch {deeplab_weights_url()}) and copy the file into "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}, or pass --weights FILE, "
                "or --segmenter python:module:function") from None
    net.eval().to(dev)
    mean = torch.tensor(IMAGENET_MEAN, device=dev)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=dev)[:, None, None]

    @torch.no_grad()
    def segment(image: Image.Image) -> np.ndarray:
        w0, h0 = image.size
        work = image
        if h0 < min_height:
            work = image.resize((max(1, round(w0 * min_height / h0)), min_height), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(work, dtype=np.float32) / 255.0).permute(2, 0, 1).to(dev)
        logits = net(((x - mean) / std)[None])["out"][0]
        person = (logits.argmax(0) == VOC_PERSON).to(torch.uint8).mul_(255).cpu().numpy()
        mask = Image.fromarray(person, "L")
        if mask.size != (w0, h0):
            mask = mask.resize((w0, h0), Image.NEAREST)
        return np.asarray(mask)

    return segment


def deeplab_weights_url() -> str:
    from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights

    return DeepLabV3_ResNet50_Weights.DEFAULT.url


def deeplab_network(weights: str | None):
    from torchvision.models.segmentation import deeplabv3_resnet50

    return deeplabv3_resnet50(weights=weights, weights_backbone=None, aux_loss=None if weights else False)


def segment_folder(input: str | Path, output: str | Path, segmenter: Callable[[Image.Image], object],
                   progress: bool = True, batch_size: int = 64) -> int:
    """Write a mask PNG for every image below `input` (same relative paths); returns the count.
    A segmenter with a batch method `masks(list of images)` (ours) gets `batch_size` at a time."""
    src, out = Path(input), Path(output)
    items = load_domain(src, ["all"]).items
    batch = getattr(segmenter, "masks", None)
    bar = tqdm(total=len(items), desc="masks", unit="img", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(items), batch_size if batch else 1):
        chunk = items[start:start + (batch_size if batch else 1)]
        images = [load_image(item.image) for item in chunk]
        masks = batch(images) if batch else [segmenter(images[0])]
        for item, image, mask in zip(chunk, images, masks):
            buf = io.BytesIO()
            mask_to_image(mask, image.size, f"segmenter on {item.image}").save(buf, "PNG")
            atomic_write(out / Path(item.key).with_suffix(".png"), buf.getvalue())
        bar.update(len(chunk))
    bar.close()
    return len(items)
