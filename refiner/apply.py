"""Refine a dataset with a trained generator, keeping its format, names, masks and metadata.

Each image is scaled to the training height keeping its aspect ratio (never stretched),
padded to a width divisible by 4, translated, un-padded and scaled back to its own size, so
the refined image stays pixel-aligned with its mask. Images of the same working size are
batched. A generated dataset comes out as a generated dataset (the format's own copy,
`core.dataset.write_dataset_copy`: masks and per-character metadata copied, metadata last,
provenance in `dataset.json`); any other folder comes out as the same tree of files plus
`refiner_provenance.json`.
"""
from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from synth_humans_addon.core.dataset import (DatasetCopy, atomic_write, plan_dataset_copy, require_inside,
                                             sha256_file, write_dataset_copy, write_listed)

from .data import LAYOUT_GENERATED, detect_layout, load_domain
from .images import image_to_tensor, load_image, tensor_to_image
from .model import RefinerModel, load_generator_model

PROVENANCE_FILE = "refiner_provenance.json"


@dataclass
class ApplyResult:
    output: Path
    layout: str
    images: int
    provenance: dict[str, Any]


def working_size(width: int, height: int, target_height: int) -> tuple[int, int, int]:
    """(height, width, padded width) the generator sees: aspect kept, width padded to a multiple of 4."""
    w = max(1, round(width * target_height / height))
    return target_height, w, -(-w // 4) * 4


def refine_batch(model: RefinerModel, images: list[Image.Image], direction: str = "AtoB") -> list[Image.Image]:
    """Translate images that share one working size; each comes back at its own size."""
    h, w, wp = working_size(*images[0].size, model.opts.height)
    batch = torch.stack([image_to_tensor(im.resize((w, h), Image.BICUBIC) if im.size != (w, h) else im)
                         for im in images])
    if wp != w:  # replicate the border: reflection would mirror the person into the margin
        batch = F.pad(batch, (0, wp - w, 0, 0), mode="replicate")
    out = model.translate(batch, direction)[..., :w]
    results = []
    for im, t in zip(images, out):
        r = tensor_to_image(t)
        results.append(r.resize(im.size, Image.BICUBIC) if r.size != im.size else r)
    return results


def refine_image(model: RefinerModel, image: Image.Image, direction: str = "AtoB") -> Image.Image:
    return refine_batch(model, [image], direction)[0]


def _encode(image: Image.Image, suffix: str, jpeg_quality: int) -> bytes:
    buf = io.BytesIO()
    if suffix.lower() in (".jpg", ".jpeg"):
        image.save(buf, "JPEG", quality=jpeg_quality)
    else:
        image.save(buf, Image.registered_extensions().get(suffix.lower(), "PNG"))
    return buf.getvalue()


@dataclass
class CopyPlan:
    """A refined copy to write: which images (paths relative to `src`) and, for a generated
    dataset, the format's copy (`core.dataset.DatasetCopy`: its masks and metadata)."""

    src: Path
    out: Path
    layout: str
    rel_paths: list[str]
    generated: DatasetCopy | None = None
    masks: dict[str, Path] = field(default_factory=dict)  # relative image path → its mask file (generated datasets)


def plan_copy(input: str | Path, output: str | Path, *, overwrite: bool = False, strict: bool = False) -> CopyPlan:
    """Check the input and output folders and list what a refined copy writes. Every refiner
    (`apply`, `refiner.stats_match`) writes its copy through `plan_copy` and `write_copy`."""
    src, out = Path(input), Path(output)
    if not src.is_dir():
        raise FileNotFoundError(f"input {src} does not exist")
    if src.resolve() == out.resolve():
        raise ValueError("output must differ from input")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"output {out} exists and is not empty (pass overwrite=True / --overwrite)")
    layout = detect_layout(src)
    if layout == LAYOUT_GENERATED:
        copy = plan_dataset_copy(src, out, strict)  # listed files that are missing: skipped (warning)
        return CopyPlan(src, out, layout, copy.images, copy, copy.masks)
    rel_paths = [it.key for it in load_domain(src, ["all"]).items]
    for rel in rel_paths:
        require_inside(src, src / rel)
        require_inside(out, out / rel)
    return CopyPlan(src, out, layout, rel_paths)


def write_copy(plan: CopyPlan, refined: Iterable[tuple[str, bytes]], provenance: dict[str, Any], *,
               name: str | None = None, progress: bool = True) -> ApplyResult:
    """Write `plan`'s copy: `refined` yields (relative path, encoded image) for every image. A
    generated dataset keeps its names, subsets, masks (byte for byte) and per-character
    metadata, with the provenance in `dataset.json`; any other folder gets
    `refiner_provenance.json`."""
    plan.out.mkdir(parents=True, exist_ok=True)
    refined = _counted(refined, len(plan.rel_paths), progress)
    if plan.generated is not None:
        write_dataset_copy(plan.generated, refined, provenance, name)
    else:
        write_listed(plan.out, plan.rel_paths, refined, plan.src)
        atomic_write(plan.out / PROVENANCE_FILE, json.dumps(provenance, indent=1).encode())
    return ApplyResult(plan.out, plan.layout, len(plan.rel_paths), provenance)


def _counted(items: Iterable[tuple[str, bytes]], total: int, progress: bool) -> Iterator[tuple[str, bytes]]:
    with tqdm(total=total, desc="refining", unit="img", disable=not progress, dynamic_ncols=True) as bar:
        for item in items:
            yield item
            bar.update(1)


def encode_like(image: Image.Image, rel: str, jpeg_quality: int) -> bytes:
    """An image encoded as its file name says (JPEG at `jpeg_quality`, else PNG or the suffix's format)."""
    return _encode(image, Path(rel).suffix, jpeg_quality)


def apply(checkpoint: str | Path, input: str | Path, output: str | Path, *, direction: str = "AtoB",
          batch_size: int = 0, device: str | None = None, name: str | None = None, jpeg_quality: int = 95,
          overwrite: bool = False, progress: bool = True, strict: bool = False) -> ApplyResult:
    """Write a refined copy of `input` to `output`. `direction` AtoB uses G_A (generated → real
    look, the refiner); BtoA uses G_B. `batch_size` 0: 16 on a GPU, 4 on the CPU."""
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction {direction!r}: must be AtoB or BtoA")
    plan = plan_copy(input, output, overwrite=overwrite, strict=strict)
    model = load_generator_model(checkpoint, device)
    batch_size = batch_size or (16 if model.device.type == "cuda" else 4)
    provenance = {"checkpoint": str(Path(checkpoint).resolve()), "checkpoint_sha256": sha256_file(Path(checkpoint)),
                  "epoch": model.state.epoch, "step": model.state.step, "direction": direction,
                  "options": model.opts.to_dict(), "input": str(plan.src.resolve()), "jpeg_quality": jpeg_quality}
    return write_copy(plan, _translated(model, plan, direction, batch_size, jpeg_quality), provenance, name=name,
                      progress=progress)


def _translated(model: RefinerModel, plan: CopyPlan, direction: str, batch_size: int, jpeg_quality: int
                ) -> Iterator[tuple[str, bytes]]:
    # Group by working size so a batch stacks; sizes come from the file headers only.
    groups: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for rel in plan.rel_paths:
        with Image.open(plan.src / rel) as im:
            groups[working_size(*im.size, model.opts.height)].append(rel)
    for rels in groups.values():
        for i in range(0, len(rels), batch_size):
            chunk = rels[i:i + batch_size]
            refined = refine_batch(model, [load_image(plan.src / r) for r in chunk], direction)
            for rel, im in zip(chunk, refined):
                yield rel, encode_like(im, rel, jpeg_quality)
