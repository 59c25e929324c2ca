"""The dry run's estimate: how many images, how long on this machine, how much disk.

`estimate_plan` walks the plan in order and gives every stage its expected wall time on the
device it will run on: rendering always on the CPU (one worker per core), refiners and re-id on
the experiment's device ("cpu" or "cuda"). The unit costs are measured rates (`costs.CostModel`);
an experiment's `[estimate]` table overrides any of them. A stage already in the cache costs
nothing more, which is what `remaining` reports on a resumed study.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .costs import CPU_RATE_CORES, CostModel
from .plan import (EVALUATE, FINETUNE, GENERATE, REAL_INPUT, REAL_TEST_INPUT, REFINE_APPLY,
                   REFINE_TRAIN, REID_TRAIN, Plan)



@dataclass
class Estimate:
    device: str = "cpu"  # where refiners and re-id run: "cpu" or "cuda"
    images_generated: int = 0
    images_refined: int = 0
    reid_models: int = 0
    finetuned_models: int = 0
    evaluations: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # stage id → expected wall seconds
    disk_gb: float = 0.0
    per_dataset: dict[str, int] = field(default_factory=dict)

    def hours(self, kinds: tuple[str, ...] | None = None, skip: set[str] | frozenset = frozenset()) -> float:
        """Expected hours of the stages of `kinds` (all when None), leaving out the ids in `skip`
        (a stage id starts with its kind: "reid-train/IV")."""
        return sum(sec for sid, sec in self.stage_seconds.items()
                   if sid not in skip and (kinds is None or sid.split("/")[0] in kinds)) / 3600

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hours": round(self.hours(), 2)}


def _count_images(folder: str) -> int:
    """Images under `folder`, by the extensions re-id's folder layout reads."""
    from reid.data.layouts import IMAGE_EXTENSIONS

    path = Path(folder)
    if not folder or not path.is_dir():
        return 0
    return sum(1 for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def _pixels(spec_dict: dict[str, Any]) -> float:
    h = float(spec_dict["render"]["crop_height"])
    return h * h * 0.5  # persons are about half as wide as tall


def estimate_plan(plan: Plan, device: str = "cpu", cores: int | None = None) -> Estimate:
    """The expected images, per-stage wall seconds and disk of `plan`, with refiners and re-id on
    `device` ("cpu" or "cuda") and rendering on `cores` CPU cores (default: this machine's)."""
    cfg = plan.config
    cost = CostModel(**{k: v for k, v in cfg.estimate.items() if k in CostModel.__dataclass_fields__})
    cores = max(1, cores or os.cpu_count() or 1)
    gpu = device == "cuda"
    cpu_scale = CPU_RATE_CORES / cores  # CPU rates were measured on CPU_RATE_CORES cores

    def on_device(gpu_rate: float, cpu_rate: float) -> float:
        return gpu_rate if gpu else cpu_rate * cpu_scale

    est = Estimate(device=device)
    images: dict[str, float] = {}  # stage id → images of the dataset it produces
    pixels: dict[str, float] = {}
    train_fraction: dict[str, float] = {}
    refiner_px_scale: dict[str, float] = {}  # refine-train id → its pixels relative to 256 × 128
    disk = 0.0
    real_train = _count_images(cfg.real.path) if cfg.real.path else 0
    real_test = _count_images(cfg.real.test_path) if cfg.real.test_path else 0
    if real_train and real_test:  # a split-folder output: train/ to train on, test/ taken whole
        images[REAL_INPUT], train_fraction[REAL_INPUT] = real_train, 1.0
    else:
        n_train, n_test = cost.real_train_images, cost.real_test_images
        images[REAL_INPUT], train_fraction[REAL_INPUT] = n_train + n_test, n_train / (n_train + n_test)
    images[REAL_TEST_INPUT], train_fraction[REAL_TEST_INPUT] = real_test or cost.real_test_images, 0.0
    pixels[REAL_INPUT] = pixels[REAL_TEST_INPUT] = 256 * 128
    refine_opts = cfg.refine.options
    refiner_epochs = float(refine_opts.get("n_epochs", 100) + refine_opts.get("n_epochs_decay", 100)) \
        if refine_opts else cost.refiner_epochs
    reid_epochs = float(cfg.reid.train.get("epochs", cost.reid_epochs))
    ft_epochs = float(cfg.reid.finetune.get("epochs", cost.finetune_epochs))
    for st in plan.stages:
        seconds = 0.0
        if st.kind == GENERATE:
            spec = st.params["spec"]
            ds = spec["dataset"]
            n = ds["characters"] * ds["images_per_character"]
            px = _pixels(spec)
            images[st.id], pixels[st.id] = n, px
            held_out = ds["test_characters"] + ds["validation_characters"]
            train_fraction[st.id] = max(0.0, (ds["characters"] - held_out) / max(1, ds["characters"]))
            est.images_generated += n
            est.per_dataset[st.label] = n
            scale = px / cost.render_reference_pixels * spec["render"]["samples"] / cost.render_reference_samples
            per_image = cost.render_s_per_image * (1 - cost.render_pixel_share + cost.render_pixel_share * scale)
            core_seconds = n * per_image + ds["characters"] * cost.render_s_per_character
            seconds = cost.render_startup_s + core_seconds / max(1, min(cfg.workers, cores))
            disk += n * px * cost.bytes_per_image_pixel
        elif st.kind == REFINE_TRAIN:
            src, tgt = st.inputs["source"], st.inputs["target"]
            opts = st.params["options"]
            # an epoch pairs every image of the larger domain with one of the other (refiner.data)
            pairs = max(images[src] * train_fraction[src], images[tgt] * train_fraction[tgt])
            # on the CPU the time follows the pixels far more than ngf (measured: 0.40–0.47 s per step
            # at 128 × 64 with ngf 32, ~2 s at 256 × 128 with ngf 64), so only pixels scale it
            px_scale = refiner_px_scale[st.id] = opts.get("height", 256) * opts.get("width", 128) / (256 * 128)
            factor = cost.ptgan_step_factor if opts.get("model") == "ptgan" else 1.0
            seconds = refiner_epochs * pairs * on_device(cost.refiner_step_s_gpu, cost.refiner_step_s_cpu) \
                * px_scale * factor
            ngf = opts.get("ngf", 64)
            every = max(1, int(opts.get("save_every_epochs", 1)))
            files = 1 + int(refiner_epochs) // every  # `latest` plus the numbered ones it keeps
            disk += cost.bytes_per_refiner_checkpoint * (ngf / 64) ** 2 * files
        elif st.kind == REFINE_APPLY:
            src = st.inputs["dataset"]
            images[st.id], pixels[st.id], train_fraction[st.id] = images[src], pixels[src], train_fraction[src]
            est.images_refined += int(images[src])
            est.per_dataset[st.label] = int(images[src])
            seconds = images[src] * on_device(cost.refiner_apply_s_per_image_gpu, cost.refiner_apply_s_per_image_cpu) \
                * refiner_px_scale.get(st.inputs.get("checkpoint", ""), 1.0)
            disk += images[src] * pixels[src] * cost.bytes_per_image_pixel
        elif st.kind in (REID_TRAIN, FINETUNE):
            src = st.inputs["dataset"]
            epochs = reid_epochs if st.kind == REID_TRAIN else ft_epochs
            seconds = epochs * images[src] * train_fraction[src] * on_device(cost.reid_s_per_image_gpu,
                                                                            cost.reid_s_per_image_cpu)
            disk += cost.bytes_per_reid_checkpoint
            if st.kind == REID_TRAIN:
                est.reid_models += 1
            else:
                est.finetuned_models += 1
        elif st.kind == EVALUATE:
            src = st.inputs["dataset"]
            est.evaluations += 1
            test = images[src] * (1 - train_fraction[src])  # a real test folder's fraction is 0: all of it
            if "model" in st.inputs:  # a baseline (colour histogram) has no network to run
                seconds = cost.eval_startup_s + test * on_device(cost.eval_s_per_image_gpu,
                                                                 cost.eval_s_per_image_cpu)
        est.stage_seconds[st.id] = round(seconds, 1)
    est.disk_gb = round(disk / 1e9, 2)
    return est


def device_kind(name: str) -> str:
    """"cuda" or "cpu": where an experiment's `device` option puts refiners and re-id on this
    machine, as `torchkit.device.resolve_device` reads it (without torch, or for a device this
    machine lacks, the estimate assumes the CPU; the run itself reports that error)."""
    try:
        from torchkit.device import resolve_device

        return "cuda" if resolve_device(name).type == "cuda" else "cpu"
    except (ImportError, ValueError, RuntimeError):
        return "cpu"


def _h(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def format_estimate(plan: Plan, est: Estimate, status: dict[str, str] | None = None) -> str:
    """The dry run's estimate lines; with `status` (stage id → cache state) also what remains."""
    where = "a GPU" if est.device == "cuda" else "the CPU"
    lines = ["estimate (measured rates; tune in [estimate]):",
             f"  images generated: {est.images_generated:,}  "
             f"({', '.join(f'{k} {v:,}' for k, v in est.per_dataset.items() if not k.startswith('R-'))})",
             f"  images refined:   {est.images_refined:,}",
             f"  re-id models:     {est.reid_models} trained, {est.finetuned_models} finetuned, "
             f"{est.evaluations} evaluations",
             f"  time:             ≈ {_h(est.hours())} on this machine: rendering {_h(est.hours((GENERATE,)))}"
             f" ({plan.config.workers} workers), refiners {_h(est.hours((REFINE_TRAIN, REFINE_APPLY)))},"
             f" re-id {_h(est.hours((REID_TRAIN, FINETUNE, EVALUATE)))} on {where}",
             f"  disk:             {est.disk_gb:,.1f} GB"]
    if status:
        done = {sid for sid, state in status.items() if state == "done"}
        lines.append(f"  remaining:        ≈ {_h(est.hours(skip=done))} "
                     f"({len(done & set(est.stage_seconds))} of {len(plan.stages)} stages done)")
    return "\n".join(lines)
