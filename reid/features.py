"""Embeddings of a list of images: the model in eval mode, batches in order, one call.

Two rules decide how the forward pass runs; a caller can name either instead:

* memory format (`model_memory_format`): channels-last when the model's first convolution
  stores its weights channels-last, which is how training leaves a model with
  ``channels_last`` on; a loaded checkpoint is contiguous, so it runs contiguous;
* precision (`feature_dtype`): float16 autocast on CUDA, float32 elsewhere, whatever the
  training run's ``amp`` was. Embeddings only feed distances and are returned as float32;
  half precision halves the memory traffic of a large gallery on a GPU, and a CPU has no
  fast float16.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from .data.records import ImageItem
from .data.torch_dataset import EvalImages
from .data.transforms import build_transforms
from .models import ReidNet

AUTO = "auto"


def model_memory_format(model: torch.nn.Module) -> torch.memory_format:
    """channels-last if the first convolution's weights are stored so (and not also contiguous), else contiguous."""
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    channels_last = conv is not None and conv.weight.is_contiguous(memory_format=torch.channels_last) \
        and not conv.weight.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format


def feature_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype of feature extraction on `device` (None: float32)."""
    return torch.float16 if device.type == "cuda" else None


@torch.no_grad()
def extract_features(model: ReidNet, items: list[ImageItem], height: int, width: int, device: torch.device,
                     batch_size: int = 128, workers: int = 0, progress: bool = False, desc: str = "features", *,
                     memory_format: torch.memory_format | str = AUTO, dtype: torch.dtype | str | None = AUTO
                     ) -> torch.Tensor:
    """Embeddings of `items` (N × D float32, on `device`), in order, with the model in eval mode.

    `memory_format` and `dtype` ("auto": the module's rules above; dtype None: float32)."""
    fmt = model_memory_format(model) if memory_format == AUTO else memory_format
    amp = feature_dtype(device) if dtype == AUTO else dtype
    was_training = model.training
    model.eval()
    ds = EvalImages(items, build_transforms(height, width, train=False), height, width)
    # Own generator: evaluating must not consume the global RNG (training stays reproducible
    # whether or not an epoch was validated, and a resumed run continues identically).
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         pin_memory=device.type == "cuda", generator=torch.Generator())
    out = torch.empty(len(items), model.embedding_dim, device=device)
    for images, idx in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            emb = model(images.to(device, non_blocking=True, memory_format=fmt)).embedding
        out[idx.to(device)] = emb.float()
    model.train(was_training)
    return out
