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

`--configs` instead studies smaller refiners at 128×64 on the CPU (`CONFIGS`: generator and
discriminator widths, residual blocks, batch size): each one's training step time (best of
rounds, alternating), and, with `--converge`, a short training of each on the procedural
domains at 128×64 (`refiner.synthetic`, the same image budget for all) that says whether it
converges: the cycle loss falls by a fifth and the translated colours close half the gap to
the target's (the criteria of tests/refiner/test_refiner_training.py), and whether the
refined copy keeps the figures apart (`refiner identity-check` with the colour histogram:
leave-one-out rank-1 and within/between ratio, generated against refined). Each run folder
keeps its `loss_curves.png` and sample grids (`--keep DIR`).

    python benchmarks/bench_refiner.py --configs --threads 2 --converge --keep runs/refiner-configs
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


# Smaller refiners at 128×64 (RefinerOptions overrides); `default` is the reference's size.
CONFIGS = {
    "default": dict(ngf=64, ndf=64, n_blocks=9, batch_size=1),
    "ngf32-6b": dict(ngf=32, ndf=32, n_blocks=6, batch_size=1),
    "ngf16-6b": dict(ngf=16, ndf=16, n_blocks=6, batch_size=1),
    "ngf16-6b-bs4": dict(ngf=16, ndf=16, n_blocks=6, batch_size=4),
    "ngf16-3b-bs4": dict(ngf=16, ndf=16, n_blocks=3, batch_size=4),
    "ngf8-3b-bs4": dict(ngf=8, ndf=8, n_blocks=3, batch_size=4),
    "ngf8-3b-bs8": dict(ngf=8, ndf=8, n_blocks=3, batch_size=8),
    "ngf4-2b-bs8": dict(ngf=4, ndf=4, n_blocks=2, batch_size=8),
    # the same small CycleGAN with SPGAN's similarity loss, and as PTGAN (masks on both sides)
    "ngf8-3b-bs4-spgan": dict(ngf=8, ndf=8, n_blocks=3, batch_size=4, lambda_similarity=2.0),
    "ngf8-3b-bs4-ptgan": dict(ngf=8, ndf=8, n_blocks=3, batch_size=4, model="ptgan"),
}


def config_options(name: str, **changes) -> RefinerOptions:
    return RefinerOptions(height=128, width=64, device="cpu", **{**CONFIGS[name], **changes})


def step_times(names: list[str], steps: int, rounds: int = 2) -> list[dict]:
    """Seconds per training step and images per second of each configuration (best round)."""
    models = {n: RefinerModel(config_options(n)) for n in names}
    g = torch.Generator().manual_seed(0)
    data = {}
    for n, m in models.items():
        b = m.opts.batch_size
        data[n] = {"A": torch.rand(b, 3, 128, 64, generator=g) * 2 - 1, "B": torch.rand(b, 3, 128, 64, generator=g) * 2 - 1,
                   "A_mask": torch.ones(b, 1, 128, 64), "B_mask": torch.ones(b, 1, 128, 64)}
        m.train_step(data[n])  # warm-up
    best = {n: float("inf") for n in names}
    for _ in range(rounds):
        for n, m in models.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                m.train_step(data[n])
            best[n] = min(best[n], (time.perf_counter() - t0) / steps)
    return [{"config": n, **CONFIGS[n], "s_per_step": best[n], "img_s": CONFIGS[n]["batch_size"] / best[n],
             "generator_params": sum(p.numel() for p in models[n].G_A.parameters())} for n in names]


def converge(names: list[str], epochs: int, keep: Path | None) -> list[dict]:
    """Train each configuration on the procedural domains at 128×64 for the same number of
    epochs; did the cycle loss fall and the colours move to the target?"""
    import tempfile

    import numpy as np

    from refiner.apply import apply, refine_image
    from refiner.identity_check import colour_histogram_embedding, identity_check
    from refiner.data import load_domain
    from refiner.images import load_image
    from refiner.model import load_generator_model
    from refiner.synthetic import colour_stats, make_generated_dataset, make_real_domain
    from refiner.train import train

    work = Path(tempfile.mkdtemp(prefix="bench-refiner-"))
    source = make_generated_dataset(work / "generated", characters=16, images_per_character=4, height=128, seed=0)
    target = make_real_domain(work / "real", count=64, height=128, seed=1, layout="market1501", with_masks=True)
    s = colour_stats(load_image(it.image) for it in load_domain(source, ["all"]).items)
    t = colour_stats(load_image(it.image) for it in load_domain(target).items)
    rows = []
    for n in names:
        out = (keep or work) / n
        opts = config_options(n, n_epochs=max(1, epochs - epochs // 4), n_epochs_decay=epochs // 4,
                              source_subsets=["all"], pool_size=10)
        t0 = time.perf_counter()
        masks = f"folder:{target / 'masks'}" if opts.model == "ptgan" else None
        run = train(opts, source, target, out, target_masks=masks, progress=False)
        minutes = (time.perf_counter() - t0) / 60
        h = run.history
        q = max(1, len(h) // 4)
        cycle = {k: np.mean([r[k] for r in h[-q:]]) / np.mean([r[k] for r in h[:q]]) for k in ("cycle_A", "cycle_B")}
        model = load_generator_model(run.latest_checkpoint, "cpu")
        r = colour_stats(refine_image(model, load_image(it.image)) for it in load_domain(source, ["all"]).items)
        gap = float(np.linalg.norm(r - t) / np.linalg.norm(s - t))
        apply(run.latest_checkpoint, source, out / "refined", progress=False, overwrite=True)
        ident = identity_check(source, out / "refined", colour_histogram_embedding(), embedding="colour-histogram")
        rows.append({"config": n, "epochs": epochs, "steps": run.step, "train_minutes": minutes,
                     "cycle_ratio": max(cycle.values()), "colour_gap_left": gap,
                     "converged": max(cycle.values()) < 0.8 and gap < 0.5,
                     "rank1": [ident["generated"]["rank1"], ident["refined_copy"]["rank1"]],
                     "ratio": [ident["generated"]["ratio"], ident["refined_copy"]["ratio"]],
                     "loss_curves": str(out / "loss_curves.png") if keep else None})
    return rows


def configs_main(args) -> dict:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    names = args.names or list(CONFIGS)
    rows = step_times(names, args.steps)
    print(f"refiner configurations at 128x64 on the CPU (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"{'config':18} {'ngf':>4} {'ndf':>4} {'blocks':>6} {'batch':>5} {'G params':>9} {'s/step':>8} {'img/s':>7} "
          f"{'min/1000 img':>12}")
    for r in rows:
        print(f"{r['config']:18} {r['ngf']:4d} {r['ndf']:4d} {r['n_blocks']:6d} {r['batch_size']:5d} "
              f"{r['generator_params']:9d} {r['s_per_step']:8.3f} {r['img_s']:7.2f} {1000 / r['img_s'] / 60:12.1f}")
    result = {"refiner_configs": rows}
    if args.converge:
        conv = converge([n for n in names if n != "default"] if not args.names else names, args.epochs, args.keep)
        print(f"\nconvergence on the procedural domains at 128x64, {args.epochs} epochs of 64 images")
        print(f"{'config':18} {'steps':>5} {'minutes':>7} {'cycle last/first':>16} {'colour gap left':>15} "
              f"{'converged':>9}  {'rank-1 gen→ref':>14} {'within/between gen→ref':>22}")
        for r in conv:
            print(f"{r['config']:18} {r['steps']:5d} {r['train_minutes']:7.2f} {r['cycle_ratio']:16.2f} "
                  f"{r['colour_gap_left']:15.2f} {'yes' if r['converged'] else 'NO':>9}  "
                  f"{r['rank1'][0]:6.2f} → {r['rank1'][1]:.2f} {r['ratio'][0]:13.2f} → {r['ratio'][1]:.2f}")
        result["refiner_convergence"] = conv
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps per round on the CPU (×4 on a GPU)")
    p.add_argument("--sizes", nargs="+", default=["256x128", "128x64"])
    p.add_argument("--gpu-batch", type=int, default=8)
    p.add_argument("--no-gpu", action="store_true")
    p.add_argument("--configs", action="store_true", help="study the smaller configurations at 128x64 instead")
    p.add_argument("--names", nargs="+", choices=list(CONFIGS), help="--configs: only these")
    p.add_argument("--threads", type=int, default=0, help="--configs: torch CPU threads (0 = torch's default)")
    p.add_argument("--converge", action="store_true", help="--configs: also train each on the procedural domains")
    p.add_argument("--epochs", type=int, default=8, help="--converge: epochs of 64 images per configuration")
    p.add_argument("--keep", type=Path, help="--converge: keep the run folders (loss curves) here")
    args = p.parse_args(argv)
    if args.configs:
        return configs_main(args)
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
