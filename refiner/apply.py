"""Refine a dataset with a trained generator, keeping its format, names, masks and metadata.

Each image is scaled to the training height keeping its aspect ratio (never stretched),
padded to a width divisible by 4, translated, un-padded and scaled back to its own size, so
the refined image stays pixel-aligned with its mask. Images of the same working size are
batched. A synth-humans dataset comes out as a synth-humans dataset (masks and per-character
metadata copied, metadata last, provenance in `dataset.json`); any other folder comes out as
the same tree of files plus `refiner_provenance.json`.
"""
from __future__ import annotations

import io
import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from synth_humans_addon.core.dataset import (DATASET_FILE, METADATA_DIR, SUBSETS, Dataset, atomic_write,
                                             read_dataset, read_manifest, require_inside, sha256_file)

from .data import LAYOUT_SYNTH, detect_layout, load_domain
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
    dataset, its records (masks and metadata to copy)."""

    src: Path
    out: Path
    layout: str
    rel_paths: list[str]
    dataset: Dataset | None = None
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
    dataset = None
    if layout == LAYOUT_SYNTH:
        dataset = read_dataset(src, strict=strict)  # listed files that are missing: skipped (warning)
        rel_paths = [r.path.relative_to(src).as_posix() for r in dataset.images]
    else:
        rel_paths = [it.key for it in load_domain(src, ["all"]).items]
    for rel in rel_paths:
        require_inside(src, src / rel)
        require_inside(out, out / rel)
    masks = {r.path.relative_to(src).as_posix(): require_inside(src, r.mask_path) for r in dataset.images
             if r.mask_path is not None} if dataset is not None else {}
    return CopyPlan(src, out, layout, rel_paths, dataset, masks)


def write_copy(plan: CopyPlan, refined: Iterable[tuple[str, bytes]], provenance: dict[str, Any], *,
               name: str | None = None, progress: bool = True) -> ApplyResult:
    """Write `plan`'s copy: `refined` yields (relative path, encoded image) for every image. A
    generated dataset keeps its names, subsets, masks (byte for byte) and per-character
    metadata, with the provenance in `dataset.json`; any other folder gets
    `refiner_provenance.json`."""
    src, out = plan.src, plan.out
    out.mkdir(parents=True, exist_ok=True)
    if plan.dataset is not None:
        manifest = read_manifest(src)
        manifest = {**manifest, "name": name or f"{manifest.get('name', src.name)}-refined",
                    "refined": provenance,
                    "refinement_history": manifest.get("refinement_history", [])
                    + ([manifest["refined"]] if "refined" in manifest else [])}
        atomic_write(out / DATASET_FILE, json.dumps(manifest, indent=1).encode())
    wanted = set(plan.rel_paths)
    bar = tqdm(total=len(plan.rel_paths), desc="refining", unit="img", disable=not progress, dynamic_ncols=True)
    for rel, data in refined:
        if rel not in wanted:  # a refiner writes only the planned files (checked inside both folders)
            raise ValueError(f"{rel}: not an image of {src}")
        atomic_write(out / rel, data)
        bar.update(1)
    bar.close()

    if plan.dataset is not None:  # masks, then each character's metadata last (the format's rule)
        for record in plan.dataset.images:
            if record.mask_path is not None:
                rel = record.mask_path.relative_to(src)
                require_inside(src, record.mask_path)
                require_inside(out, out / rel)
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(record.mask_path, out / rel)
        for meta in sorted((src / METADATA_DIR).glob("*.json")):
            atomic_write(out / METADATA_DIR / meta.name, meta.read_bytes())
        for sub in SUBSETS:
            (out / sub).mkdir(exist_ok=True)  # empty subsets exist in the source format too
    else:
        atomic_write(out / PROVENANCE_FILE, json.dumps(provenance, indent=1).encode())
    return ApplyResult(out, plan.layout, len(plan.rel_paths), provenance)


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
