"""The dry run's cost model: measured unit costs, overridable in an experiment's ``[estimate]`` table.

Every rate is seconds of wall time on one device, measured on the project's machines and named
with the unit it counts. The estimate (`study.estimate`) multiplies them by the plan's
counts: images rendered, refiner steps, re-id images seen, test images ranked.

Where the numbers come from (docs/results.md, *A fresh end-to-end run*):

* render: the study's generate stages at 128 px (1,840 images of 230 characters in 129–145 s
  with 2 workers on 2 cores) and `benchmarks/bench_render.py` at 160 px (0.14 s per cropped
  image, 0.12 s per character). A render does not shrink with its pixels at these sizes: half
  of an image's cost is scene update, post-processing and writing.
* CPU training: the study file `examples/experiments/study_cpu.toml` run from scratch on the
  2-core development machine (bf16 where the CPU has it). CPU rates are per 2 cores; the
  estimate scales them by 2 / the machine's cores.
* GPU training: the same stages on one H200 (docs/results.md, *Ten seeds on a GPU*).
"""
from __future__ import annotations

from dataclasses import dataclass

CPU_RATE_CORES = 2  # the CPU rates below were measured on this many cores


@dataclass
class CostModel:
    """Unit costs; any field can be set in the experiment's `[estimate]` table."""

    # Rendering (one worker per core): seconds per image at the reference size and samples.
    render_s_per_image: float = 0.20
    render_s_per_character: float = 0.15  # building the character and its scene
    render_pixel_share: float = 0.5  # the part of render_s_per_image that scales with pixels × samples
    render_reference_pixels: float = 256 * 128
    render_reference_samples: float = 4
    render_startup_s: float = 10.0  # broker, workers and Blender start once per dataset
    # Refiners: seconds per training step (one image pair, batch 1) at 256 × 128 with ngf 64;
    # the cost scales with pixels and with ngf². PTGAN adds its person loss and a second critic.
    refiner_step_s_gpu: float = 0.06
    refiner_step_s_cpu: float = 1.75
    ptgan_step_factor: float = 1.0  # measured 0.85–1.2 across runs
    refiner_apply_s_per_image_gpu: float = 0.01
    refiner_apply_s_per_image_cpu: float = 0.075
    refiner_epochs: float = 200  # when the experiment gives no n_epochs + n_epochs_decay
    # Re-id (Inception at 144 × 56): seconds per training image per epoch, validation included.
    reid_s_per_image_gpu: float = 0.002
    reid_s_per_image_cpu: float = 0.034
    reid_epochs: float = 50
    finetune_epochs: float = 20
    # Evaluation: seconds per test image (features, ranking, draws), plus loading the model.
    eval_s_per_image_gpu: float = 0.0005
    eval_s_per_image_cpu: float = 0.025
    eval_startup_s: float = 5.0
    # Counts for a real dataset that is not on disk yet (CUHK03 labeled, 767/700 split).
    real_train_images: float = 7365
    real_test_images: float = 1400
    # Disk.
    bytes_per_image_pixel: float = 0.35  # JPEG at quality ~90 plus a PNG mask
    # 2 generators (11.4M parameters each at ngf 64) + 2 discriminators (2.8M), float32, with
    # Adam's two moments: ~340 MB per checkpoint file at ngf 64.
    bytes_per_refiner_checkpoint: float = 28.4e6 * 4 * 3
    bytes_per_reid_checkpoint: float = 100e6  # best.pt + last.pt (model and SGD state), measured
