"""Pictures of a training run: the per-epoch sample grid and the loss curves."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .images import tensor_to_image


def mask_image(mask: torch.Tensor) -> Image.Image:
    """1 × H × W mask in [0, 1] → grey RGB image."""
    arr = (mask.detach().float().cpu().clamp(0, 1)[0] * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(np.stack([arr] * 3, -1), "RGB")


def sample_grid(columns: Sequence[tuple[str, Sequence[Image.Image]]], pad: int = 2, label_height: int = 12
                ) -> Image.Image:
    """A grid with one labelled column per stage (input, translated, ...) and one row per image."""
    rows = max(len(images) for _, images in columns)
    cell_w = max(im.width for _, images in columns for im in images)
    cell_h = max(im.height for _, images in columns for im in images)
    grid = Image.new("RGB", (len(columns) * (cell_w + pad) + pad, label_height + rows * (cell_h + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    for c, (label, images) in enumerate(columns):
        x = pad + c * (cell_w + pad)
        draw.text((x, 0), label[: max(1, cell_w // 6)], fill="black")
        for r, im in enumerate(images):
            grid.paste(im, (x, label_height + pad + r * (cell_h + pad)))
    return grid


def cycle_grid(batch: dict, outputs: dict[str, torch.Tensor]) -> Image.Image:
    """Two blocks side by side: A → B → A (input, translated, reconstructed, mask) and B → A → B."""
    def block(real, fake, rec, mask, has_mask, tag_in, tag_out):
        masks = [mask_image(m) if h else Image.new("RGB", (real.shape[-1], real.shape[-2]), (255, 0, 255))
                 for m, h in zip(mask, has_mask)]
        return [(f"{tag_in}", [tensor_to_image(t) for t in real]),
                (f"{tag_in}>{tag_out}", [tensor_to_image(t) for t in fake]),
                (f"{tag_in}>{tag_out}>{tag_in}", [tensor_to_image(t) for t in rec]),
                ("mask", masks)]

    cols = block(batch["A"], outputs["fake_B"], outputs["rec_A"], batch["A_mask"], batch["A_has_mask"], "A", "B")
    cols += block(batch["B"], outputs["fake_A"], outputs["rec_B"], batch["B_mask"], batch["B_has_mask"], "B", "A")
    return sample_grid(cols)


def save_loss_curves(history: list[dict], path: str | Path, title: str = "refiner losses") -> Path:
    """Loss per step (thin) and its running mean (thick), one panel per loss family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    steps = np.array([h["step"] for h in history])
    families = [("discriminators", ("D_A", "D_B")), ("adversarial (G)", ("G_A", "G_B")),
                ("cycle", ("cycle_A", "cycle_B")), ("identity", ("idt_A", "idt_B", "person_A", "person_B")),
                ("similarity (SPGAN)", ("sim_A", "sim_B", "S"))]
    families = [f for f in families if any(k in h for h in history for k in f[1])]  # e.g. no SPGAN panel when off
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.2), squeeze=False)
    axes = axes[0]
    for ax, (name, keys) in zip(axes, families):
        for key in keys:
            vals = np.array([h.get(key, np.nan) for h in history], dtype=float)
            if not np.isfinite(vals).any() or not np.any(vals):
                continue
            k = max(1, len(vals) // 50)
            smooth = np.convolve(vals, np.ones(k) / k, mode="valid")
            line, = ax.plot(steps, vals, lw=0.5, alpha=0.35)
            ax.plot(steps[k - 1:], smooth, lw=1.5, color=line.get_color(), label=key)
        ax.set_title(name)
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
