"""Refiner training speed: our CycleGAN step against a plain reference-style step, one run.

For the default CycleGAN (ResNet-9 generators, ngf = ndf = 64, identity loss on, pool 50)
at 256×128 and 128×64 it measures training images per second of

* `reference`: the reference implementation's step written out plainly (fp32, NCHW, each
  generator/discriminator call separate, as in junyanz/pytorch-CycleGAN-and-pix2pix), and
* `refiner`: `RefinerModel.train_step` (stacked calls; on a GPU also mixed precision and
  channels-last),

on the CPU and, when there is one, on the GPU, and prints the ratio refiner / reference
(targets: ≥ 1.0 on the CPU, ≥ 1.5 on a GPU). Runs alternate so a busy machine slows both alike.

    python benchmarks/bench_refiner.py [--steps 3] [--sizes 256x128 128x64] [--gpu-batch 8]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from refiner.model import GANLoss, ImagePool, RefinerModel  # noqa: E402
from refiner.options import RefinerOptions  # noqa: E402


class ReferenceStep:
    """The reference CycleGAN's optimize_parameters, fp32 and unbatched, on our networks."""

    def __init__(self, model: RefinerModel):
        o = model.opts
        self.o, self.G_A, self.G_B, self.D_A, self.D_B = o, model.G_A, model.G_B, model.D_A, model.D_B
        self.device = model.device
        self.opt_G = torch.optim.Adam(itertools.chain(self.G_A.parameters(), self.G_B.parameters()), o.lr, (o.beta1, 0.999))
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()), o.lr, (o.beta1, 0.999))
        self.pool_A, self.pool_B = ImagePool(o.pool_size, 1), ImagePool(o.pool_size, 2)
        self.gan, self.l1 = GANLoss("lsgan"), nn.L1Loss()

    def __call__(self, batch) -> None:
        o = self.o
        real_A, real_B = batch["A"].to(self.device), batch["B"].to(self.device)
        fake_B = self.G_A(real_A)
        rec_A = self.G_B(fake_B)
        fake_A = self.G_B(real_B)
        rec_B = self.G_A(fake_A)
        for d in (self.D_A, self.D_B):
            d.requires_grad_(False)
        self.opt_G.zero_grad()
        idt_A = self.G_A(real_B)
        idt_B = self.G_B(real_A)
        loss_G = (self.gan(self.D_A(fake_B), True) + self.gan(self.D_B(fake_A), True)
                  + self.l1(rec_A, real_A) * o.lambda_a + self.l1(rec_B, real_B) * o.lambda_b
                  + self.l1(idt_A, real_B) * o.lambda_b * o.lambda_identity
                  + self.l1(idt_B, real_A) * o.lambda_a * o.lambda_identity)
        loss_G.backward()
        self.opt_G.step()
        for d in (self.D_A, self.D_B):
            d.requires_grad_(True)
        self.opt_D.zero_grad()
        for d, real, fake in ((self.D_A, real_B, self.pool_B.query(fake_B.detach())),
                              (self.D_B, real_A, self.pool_A.query(fake_A.detach()))):
            loss = 0.5 * (self.gan(d(real), True) + self.gan(d(fake.detach()), False))
            loss.backward()
        self.opt_D.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(device: str, height: int, width: int, batch: int, steps: int, rounds: int = 2) -> dict:
    """Images per second of both steps (best round of `rounds`, alternating)."""
    dev = torch.device(device)
    opts = RefinerOptions(height=height, width=width, device=device, batch_size=batch)
    ours = RefinerModel(opts)
    ref_model = RefinerModel(opts.replace(amp="off", channels_last="off"))
    reference = ReferenceStep(ref_model)
    g = torch.Generator().manual_seed(0)
    data = {"A": torch.rand(batch, 3, height, width, generator=g) * 2 - 1,
            "B": torch.rand(batch, 3, height, width, generator=g) * 2 - 1,
            "A_mask": torch.ones(batch, 1, height, width), "B_mask": torch.ones(batch, 1, height, width)}
    best = {"refiner": 0.0, "reference": 0.0}
    for name, fn in (("refiner", ours.train_step), ("reference", reference)):  # warm-up (allocators, cudnn)
        for _ in range(2 if dev.type == "cuda" else 1):
            fn(data)
    _sync(dev)
    for _ in range(rounds):
        for name, fn in (("refiner", ours.train_step), ("reference", reference)):
            _sync(dev)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn(data)
            _sync(dev)
            best[name] = max(best[name], steps * batch / (time.perf_counter() - t0))
    return {"device": device, "size": f"{height}x{width}", "batch": batch,
            "amp": str(ours.amp_dtype).replace("torch.", "") if ours.amp_dtype else "off",
            "channels_last": ours.channels_last,
            "refiner_img_s": best["refiner"], "reference_img_s": best["reference"],
            "ratio": best["refiner"] / best["reference"]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps per round on the CPU (×4 on a GPU)")
    p.add_argument("--sizes", nargs="+", default=["256x128", "128x64"])
    p.add_argument("--gpu-batch", type=int, default=8)
    p.add_argument("--no-gpu", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for size in args.sizes:
        h, w = (int(v) for v in size.split("x"))
        rows.append(measure("cpu", h, w, 1, args.steps))
        if torch.cuda.is_available() and not args.no_gpu:
            rows.append(measure("cuda", h, w, args.gpu_batch, args.steps * 4))
    print(f"refiner training speed (torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    print(f"{'device':6} {'size':8} {'batch':>5} {'amp':5} {'ch-last':7} {'refiner img/s':>14} "
          f"{'reference img/s':>16} {'ratio':>6}  target")
    for r in rows:
        target = 1.0 if r["device"] == "cpu" else 1.5
        print(f"{r['device']:6} {r['size']:8} {r['batch']:5d} {r['amp']:5} {str(r['channels_last']):7} "
              f"{r['refiner_img_s']:14.2f} {r['reference_img_s']:16.2f} {r['ratio']:6.2f}  ≥ {target:.1f} "
              f"{'ok' if r['ratio'] >= target else 'MISSED'}")
    return {"refiner_training": rows}


if __name__ == "__main__":
    main()
