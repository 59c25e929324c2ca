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
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from synth_humans_addon.core.dataset import (DATASET_FILE, METADATA_DIR, SUBSETS, DatasetFormatError, atomic_write,
                                             read_dataset, read_manifest, sha256_file)

from .data import LAYOUT_SYNTH, detect_layout, image_to_tensor, load_domain, load_image, tensor_to_image
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


def _inside(root: Path, path: Path) -> Path:
    """`path` if it lies inside `root` (links resolved); a dataset's metadata cannot make the
    refiner read or write anything outside its input and output folders."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        raise DatasetFormatError(f"{path}: outside the dataset {root}; refusing to open it")
    return path


def apply(checkpoint: str | Path, input: str | Path, output: str | Path, *, direction: str = "AtoB",
          batch_size: int = 0, device: str | None = None, name: str | None = None, jpeg_quality: int = 95,
          overwrite: bool = False, progress: bool = True, strict: bool = False) -> ApplyResult:
    """Write a refined copy of `input` to `output`. `direction` AtoB uses G_A (generated → real
    look, the refiner); BtoA uses G_B. `batch_size` 0: 16 on a GPU, 4 on the CPU."""
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction {direction!r}: must be AtoB or BtoA")
    src, out = Path(input), Path(output)
    if not src.is_dir():
        raise FileNotFoundError(f"input {src} does not exist")
    if src.resolve() == out.resolve():
        raise ValueError("output must differ from input")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"output {out} exists and is not empty (pass overwrite=True / --overwrite)")
    model = load_generator_model(checkpoint, device)
    batch_size = batch_size or (16 if model.device.type == "cuda" else 4)
    layout = detect_layout(src)
    if layout == LAYOUT_SYNTH:
        dataset = read_dataset(src, strict=strict)  # listed files that are missing: skipped (warning)
        rel_paths = [r.path.relative_to(src).as_posix() for r in dataset.images]
    else:
        rel_paths = [it.key for it in load_domain(src, ["all"]).items]

    provenance = {"checkpoint": str(Path(checkpoint).resolve()), "checkpoint_sha256": sha256_file(Path(checkpoint)),
                  "epoch": model.state.epoch, "step": model.state.step, "direction": direction,
                  "options": model.opts.to_dict(), "input": str(src.resolve()), "jpeg_quality": jpeg_quality}
    out.mkdir(parents=True, exist_ok=True)
    if layout == LAYOUT_SYNTH:
        manifest = read_manifest(src)
        manifest = {**manifest, "name": name or f"{manifest.get('name', src.name)}-refined",
                    "refined": provenance,
                    "refinement_history": manifest.get("refinement_history", [])
                    + ([manifest["refined"]] if "refined" in manifest else [])}
        atomic_write(out / DATASET_FILE, json.dumps(manifest, indent=1).encode())

    # Group by working size so a batch stacks; sizes come from the file headers only.
    groups: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for rel in rel_paths:
        _inside(src, src / rel)
        _inside(out, out / rel)
        with Image.open(src / rel) as im:
            groups[working_size(*im.size, model.opts.height)].append(rel)
    bar = tqdm(total=len(rel_paths), desc="refining", unit="img", disable=not progress, dynamic_ncols=True)
    for rels in groups.values():
        for i in range(0, len(rels), batch_size):
            chunk = rels[i:i + batch_size]
            refined = refine_batch(model, [load_image(src / r) for r in chunk], direction)
            for rel, im in zip(chunk, refined):
                atomic_write(out / rel, _encode(im, Path(rel).suffix, jpeg_quality))
            bar.update(len(chunk))
    bar.close()

    if layout == LAYOUT_SYNTH:  # masks, then each character's metadata last (the format's rule)
        for record in dataset.images:
            if record.mask_path is not None:
                rel = record.mask_path.relative_to(src)
                _inside(src, record.mask_path)
                _inside(out, out / rel)
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(record.mask_path, out / rel)
        for meta in sorted((src / METADATA_DIR).glob("*.json")):
            atomic_write(out / METADATA_DIR / meta.name, meta.read_bytes())
        for sub in SUBSETS:
            (out / sub).mkdir(exist_ok=True)  # empty subsets exist in the source format too
    else:
        atomic_write(out / PROVENANCE_FILE, json.dumps(provenance, indent=1).encode())
    return ApplyResult(out, layout, len(rel_paths), provenance)
