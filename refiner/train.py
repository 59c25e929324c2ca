"""Training loop: data, steps, checkpoints, resume, sample grids and loss curves.

An output folder holds everything of one run::

    OUT/
      options.json               the options (also inside every checkpoint)
      run.json                   source, target, mask sources, device, batch size
      checkpoints/latest.pt      updated at every epoch end (and every save_every_steps steps)
      checkpoints/epoch_0001.pt  kept every save_every_epochs epochs
      samples/epoch_0001.png     the fixed validation batch: input, translated, reconstructed, mask
      losses.jsonl               one line of losses per step
      loss_curves.png

Resuming (`resume=True`) reloads `latest.pt` (weights, optimisers, schedules, image pools,
position within the epoch) and continues at the same step with the same batches.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from torchkit.device import resolve_device
from torchkit.distributed import DistContext, ShardedBatchSampler, process_group
from torchkit.saving import atomic_save

from synth_humans_addon.core.typed_options import fixed_fields_changed

from .data import NoMasks, UnalignedPairs, load_domain, parse_mask_source
from .images import PairTransform
from .model import RefinerModel, auto_batch_size, load_checkpoint
from .options import OptionsError, RefinerOptions
from .plots import cycle_grid, save_loss_curves

# The losses the progress bar and the epoch lines show (those a run has).
SHOWN_LOSSES = ("D_A", "G_A", "cycle_A", "D_B", "G_B", "cycle_B", "sim_A", "sim_B", "S")
# Options that may change when resuming; everything else defines the model or its data.
RESUMABLE_OVERRIDES = {"n_epochs", "n_epochs_decay", "device", "amp", "channels_last", "num_workers", "threads",
                       "save_every_epochs", "save_every_steps", "sample_count"}


@dataclass
class TrainResult:
    output_dir: Path
    latest_checkpoint: Path
    epoch: int  # epochs finished
    step: int  # optimisation steps done
    history: list[dict] = field(default_factory=list)  # losses of the steps run in this call
    samples: list[Path] = field(default_factory=list)


class StepClock:
    """Times the first steps of a run (the very first is warm-up and not counted) and says once
    what the whole run will take at that speed: steps × measured seconds per step."""

    def __init__(self, measured_steps: int = 3):
        self.measured_steps, self.times, self._last = measured_steps, [], None
        self.reported = False

    def tick(self) -> float | None:
        """Call after each step; returns seconds per step once enough steps were timed (once)."""
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now
        if self.reported or len(self.times) < self.measured_steps:
            return None
        self.reported = True
        return sum(self.times) / len(self.times)


def estimate_line(steps_left: int, seconds_per_step: float) -> str:
    total = steps_left * seconds_per_step
    span = f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.1f} min" if total >= 60 else f"{total:.0f} s"
    line = f"estimate: {steps_left} steps left × {seconds_per_step:.2f} s/step = {span} on this device"
    if total > 24 * 3600:
        line += (" (the defaults are GPU-scale: on a CPU try a smaller --height/--width, --ngf/--ndf, --n-blocks "
                 "or fewer --n-epochs; docs/refiner.md)")
    return line


def _read_history(path: Path, up_to_step: int) -> list[dict]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= up_to_step]


def train(options: RefinerOptions | None, source: str | Path, target: str | Path, output_dir: str | Path, *,
          source_masks: str | None = None, target_masks: str | None = None, resume: bool = False,
          overrides: dict[str, Any] | None = None, max_steps: int | None = None, progress: bool = True,
          strict: bool = False) -> TrainResult:
    """Train a refiner from `source` (generated, domain A) toward `target` (real, domain B).

    `options` is required for a new run; when resuming, the checkpoint's options are used,
    with `overrides` for the few that may change (RESUMABLE_OVERRIDES). `max_steps` stops
    after that many steps in all (saving `latest`), e.g. for smoke tests.
    Mask sources: see `refiner.data.parse_mask_source`; None = `auto`, or when resuming,
    the sources the run was started with. Under torchrun it is one rank of a
    DistributedDataParallel run (docs/refiner.md, "Beyond one device").
    """
    out = Path(output_dir)
    latest = out / "checkpoints" / "latest.pt"
    checkpoint = None
    if resume:
        if not latest.is_file():
            raise FileNotFoundError(f"{latest}: nothing to resume")
        checkpoint = load_checkpoint(latest)
        bad = fixed_fields_changed(checkpoint["options"], overrides, RESUMABLE_OVERRIDES)
        if bad:
            raise OptionsError(f"cannot change {', '.join(bad)} when resuming (they define the model or its data); "
                               f"changeable: {', '.join(sorted(RESUMABLE_OVERRIDES))}")
        options = RefinerOptions.from_dict({**checkpoint["options"], **(overrides or {})})
        run_info = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
        source_masks = source_masks or run_info.get("source_masks")
        target_masks = target_masks or run_info.get("target_masks")
    elif options is None:
        raise OptionsError("options are required for a new training run")
    elif latest.is_file():
        raise FileExistsError(f"{latest} exists: pass resume=True (--resume) to continue it, or use a new output folder")
    else:
        options = options.replace(**(overrides or {}))
    with process_group(resolve_device(options.device)) as ctx:
        return _train(options, checkpoint, source, target, out, source_masks, target_masks, max_steps, progress,
                      strict, ctx)


def _train(options: RefinerOptions, checkpoint: dict | None, source: str | Path, target: str | Path, out: Path,
           source_masks: str | None, target_masks: str | None, max_steps: int | None, progress: bool, strict: bool,
           ctx: DistContext) -> TrainResult:
    latest = out / "checkpoints" / "latest.pt"
    if options.threads:
        torch.set_num_threads(options.threads)
    device = ctx.device
    if options.batch_size == 0:  # under DDP the global batch: what fits one device, times the devices
        options = options.replace(batch_size=auto_batch_size(options, device) * ctx.world_size)
    if options.batch_size % ctx.world_size:
        raise OptionsError(f"refiner option `batch_size` = {options.batch_size}: not a multiple of the "
                           f"{ctx.world_size} processes (each takes batch_size / {ctx.world_size} of every batch)")
    ctx.barrier()  # every rank has checked the output folder before rank 0 writes to it
    progress = progress and ctx.is_main

    source_masks, target_masks = source_masks or "auto", target_masks or "auto"
    domain_a = load_domain(source, options.source_subsets, strict)
    domain_b = load_domain(target, options.target_subsets, strict)
    masks_a = parse_mask_source(source_masks, domain_a.layout)
    masks_b = parse_mask_source(target_masks, domain_b.layout)
    if options.model == "ptgan":
        for side, src, arg in (("source", masks_a, source_masks), ("target", masks_b, target_masks)):
            if isinstance(src, NoMasks) and arg != "none":
                raise OptionsError(f"PTGAN needs person masks for the {side} domain: pass --{side}-masks "
                                   f"folder:PATH or python:module:function (or 'none' to drop that side's person "
                                   f"loss); see docs/refiner.md on getting masks for a real dataset")
    transform = PairTransform(options.height, options.width, *options.load_size, options.flip, options.pad_mode)
    pairs = UnalignedPairs(domain_a, domain_b, masks_a, masks_b, transform, options.seed)

    model = RefinerModel(options, device)
    if checkpoint is not None:
        model.load_state_dict(checkpoint)
        torch.set_rng_state(checkpoint["torch_rng"])
    else:
        torch.manual_seed(options.seed)
    if ctx.enabled:  # DDP: each rank its own dropout masks (use_dropout)
        torch.manual_seed(ctx.rank_seed(options.seed, model.state.step))
    model.distribute(ctx)
    history_path = out / "losses.jsonl"
    if ctx.is_main:  # DDP: rank 0 writes every file, the others wait at barriers
        out.mkdir(parents=True, exist_ok=True)
        (out / "options.json").write_text(json.dumps(options.to_dict(), indent=1))
        (out / "run.json").write_text(json.dumps({
            "source": str(source), "target": str(target), "source_layout": domain_a.layout,
            "target_layout": domain_b.layout, "source_images": len(domain_a), "target_images": len(domain_b),
            "source_masks": repr(masks_a), "target_masks": repr(masks_b), "device": str(device),
            "amp": str(model.amp_dtype), "channels_last": model.channels_last, "batch_size": options.batch_size,
            "processes": ctx.world_size}, indent=1))
        past = _read_history(history_path, model.state.step)
        history_path.write_text("".join(json.dumps(r) + "\n" for r in past))  # drop steps after the checkpoint
    fixed = pairs.fixed_batch(options.sample_count)
    result = TrainResult(out, latest, model.state.epoch, model.state.step)

    def save(numbered: bool = False) -> None:
        if ctx.is_main:
            d = model.state_dict()
            d["torch_rng"] = torch.get_rng_state()
            atomic_save(d, latest)
            if numbered:
                atomic_save(d, out / "checkpoints" / f"epoch_{model.state.epoch:04d}.pt")
        ctx.barrier()

    def render_samples() -> None:
        if not ctx.is_main:
            return
        path = out / "samples" / f"epoch_{model.state.epoch:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cycle_grid(fixed, model.cycle(fixed["A"], fixed["B"])).save(path)
        result.samples.append(path)

    if model.state.step == 0:
        render_samples()  # epoch 0: the untrained networks, for comparison
    clock = StepClock()
    steps_per_epoch = math.ceil(len(pairs) / options.batch_size)
    run_steps = steps_per_epoch * options.total_epochs if max_steps is None else min(
        max_steps, steps_per_epoch * options.total_epochs)
    with (history_path if ctx.is_main else Path(os.devnull)).open("a") as log:
        while model.state.epoch < options.total_epochs:
            epoch = model.state.epoch
            pairs.set_epoch(epoch, model.state.step_in_epoch)
            # DDP: rank r loads its slice of each global batch (crops and flips depend on the position only)
            batches = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(pairs), options.batch_size,
                                                    drop_last=False)
            loader = torch.utils.data.DataLoader(pairs, batch_sampler=ShardedBatchSampler(batches, ctx),
                                                 num_workers=options.num_workers,
                                                 pin_memory=device.type == "cuda",
                                                 persistent_workers=False)
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{options.total_epochs}", disable=not progress,
                       dynamic_ncols=True, leave=False)
            for batch in bar:
                losses = model.train_step(batch)
                per_step = clock.tick()
                if per_step is not None and progress:
                    tqdm.write(estimate_line(max(0, run_steps - model.state.step), per_step))
                row = {"step": model.state.step, "epoch": epoch, "lr": model.learning_rate, **losses}
                log.write(json.dumps(row) + "\n")
                result.history.append(row)
                bar.set_postfix({k: f"{losses[k]:.3f}" for k in SHOWN_LOSSES if k in losses})
                if options.save_every_steps and model.state.step % options.save_every_steps == 0:
                    log.flush()
                    save()
                if max_steps is not None and model.state.step >= max_steps:
                    bar.close()
                    log.flush()
                    save()
                    result.epoch, result.step = model.state.epoch, model.state.step
                    return result
            bar.close()
            model.end_epoch()
            log.flush()
            save(numbered=model.state.epoch % max(1, options.save_every_epochs) == 0
                 or model.state.epoch == options.total_epochs)
            render_samples()
            if ctx.is_main:
                save_loss_curves(_read_history(history_path, model.state.step), out / "loss_curves.png",
                                 f"{options.model}: {domain_a.root.name} → {domain_b.root.name}")
            if progress:
                tqdm.write(f"epoch {model.state.epoch}/{options.total_epochs}  step {model.state.step}  "
                           f"lr {model.learning_rate:.2e}  " + "  ".join(
                               f"{k} {v:.3f}" for k, v in _epoch_means(result.history, epoch).items()))
    result.epoch, result.step = model.state.epoch, model.state.step
    return result


def _epoch_means(history: list[dict], epoch: int) -> dict[str, float]:
    rows = [r for r in history if r["epoch"] == epoch]
    keys = [k for k in SHOWN_LOSSES if rows and k in rows[0]]
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys} if rows else {}
