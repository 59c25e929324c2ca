"""`python -m refiner` / `synth-refiner`: train, apply, masks, options.

Every field of RefinerOptions is a `train` flag (`lambda_person` → `--lambda-person`), so
the options object stays the one place that defines them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from synth_humans_addon.core.cli_conventions import (HelpFormatter, UserError, add_quiet, check_input_file,
                                                     check_output_folder, new_parser, program_name, run_cli)

from .options import AMP_MODES, GAN_MODES, INIT_TYPES, MODELS, NORMS, PADDINGS, PERSON_LOSS_NORMS, OptionsError, \
    RefinerOptions

PROG = program_name("refiner", "synth-refiner")
STRICT_HELP = "refuse a generated dataset with missing files (default: skip them with a warning)"
OPTION_CHOICES = {"model": MODELS, "norm": NORMS, "person_loss_norm": PERSON_LOSS_NORMS, "init_type": INIT_TYPES,
                  "gan_mode": GAN_MODES, "pad_mode": PADDINGS, "amp": AMP_MODES, "channels_last": ("auto", "on", "off")}

OPTION_HELP = {
    "model": "cyclegan or ptgan (CycleGAN + person identity loss on the foreground)",
    "height": "training frame height (multiple of 4)", "width": "training frame width (multiple of 4)",
    "load_scale": "fit into a frame this much larger, then random-crop (1 = no crop)",
    "flip": "random horizontal flips", "pad_mode": "letterbox fill: edge, reflect or constant",
    "ngf": "generator width", "ndf": "discriminator width", "n_blocks": "residual blocks (6 or 9)",
    "n_layers_d": "PatchGAN layers (3 = 70×70)", "norm": "instance, batch or none",
    "lambda_a": "cycle loss weight A→B→A", "lambda_b": "cycle loss weight B→A→B",
    "lambda_identity": "identity-mapping loss, relative to lambda_a/b (0 = off)",
    "lambda_person": "PTGAN person identity loss weight", "person_loss_norm": "l1 or l2",
    "pool_size": "image pool size (0 = none)", "n_epochs": "epochs at the initial learning rate",
    "n_epochs_decay": "epochs of linear decay to 0", "batch_size": "batch size (0 = fit the device)",
    "device": "auto, cpu, cuda or cuda:N", "amp": "auto, off, bf16 or fp16",
    "channels_last": "auto, on or off", "source_subsets": "subsets of a dataset source ('all' for every one)",
    "target_subsets": "subsets of a Market-1501 / synth-humans target ('all' for every one)",
    "input_nc": "image channels in", "output_nc": "image channels out", "use_dropout": "dropout in the generator",
    "init_type": "weight initialisation", "init_gain": "scale of the initial weights",
    "gan_mode": "adversarial loss: lsgan (least squares) or vanilla (cross-entropy)", "lr": "Adam learning rate",
    "beta1": "Adam beta1", "seed": "random seed", "num_workers": "data-loading processes (0 = in the main process)",
    "threads": "torch CPU threads (0 = torch's default)",
    "save_every_epochs": "keep a numbered checkpoint every N epochs (latest is always kept)",
    "save_every_steps": "also update the latest checkpoint every N steps (0 = at epoch ends only)",
    "sample_count": "images per domain in the fixed sample grid",
}


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("refiner options (all of them: `python -m refiner options`)")
    defaults = RefinerOptions()
    for f in dataclasses.fields(RefinerOptions):
        names = ["--" + f.name.replace("_", "-")]
        if f.name == "num_workers":  # the family's spelling; --num-workers stays accepted
            names = ["--workers", "--num-workers"]
        default = getattr(defaults, f.name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        # argparse's default stays None: only options given on the command line override
        # an --options file or a resumed run's options.
        kw: dict[str, Any] = {"dest": f"opt_{f.name}", "default": None,
                              "help": f"{OPTION_HELP.get(f.name, '')} (default: {shown})".lstrip()}
        if f.name in OPTION_CHOICES:
            kw["choices"] = OPTION_CHOICES[f.name]
        elif f.type != "bool":
            kw["metavar"] = names[0][2:].replace("-", "_").upper()
        if f.type == "bool":
            group.add_argument(*names, action=argparse.BooleanOptionalAction, **kw)
        elif f.type.startswith("list"):
            group.add_argument(*names, nargs="+", **kw)
        else:
            group.add_argument(*names, type={"int": int, "float": float}.get(f.type, str), **kw)


def _passed_options(args: argparse.Namespace) -> dict[str, Any]:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, "CycleGAN / PTGAN refiners: make generated people look like a real camera's. Exit codes: "
                   "0 done, 2 a usage or input error (one line naming the option or file); see docs/cli.md.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)

    t = command("train", "train a refiner (generated → real)")
    t.add_argument("--source", required=True, help="generated dataset (domain A)")
    t.add_argument("--target", required=True, help="real images: a folder, a Market-1501 folder or a dataset (domain B)")
    t.add_argument("--output", "-o", required=True, help="run folder (checkpoints, samples, losses)")
    t.add_argument("--source-masks", help="auto (default; on --resume: as started) | none | dataset | folder:PATH | "
                   "python:mod:func")
    t.add_argument("--target-masks", help="auto (default; on --resume: as started) | none | dataset | folder:PATH | "
                   "python:mod:func")
    t.add_argument("--options", type=Path, help="JSON file of options (e.g. a run's options.json); flags override it")
    t.add_argument("--resume", action="store_true", help="continue the run in --output from checkpoints/latest.pt")
    t.add_argument("--max-steps", type=int, help="stop after this many steps in all (smoke tests)")
    t.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_quiet(t)
    _add_option_flags(t)

    a = command("apply", "write a refined copy of a dataset")
    a.add_argument("--checkpoint", required=True, type=Path, help="a refiner checkpoint (checkpoints/latest.pt)")
    a.add_argument("--input", required=True, type=Path, help="dataset or image folder to refine")
    a.add_argument("--output", "-o", required=True, type=Path, help="folder for the refined copy")
    a.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                   help="AtoB: generated → real look (G_A, the refiner)")
    a.add_argument("--batch-size", type=int, default=0, help="0 = 16 on a GPU, 4 on the CPU")
    a.add_argument("--device", default=None, help="default: the checkpoint's (auto)")
    a.add_argument("--name", default=None, help="name of the refined dataset (default <name>-refined)")
    a.add_argument("--jpeg-quality", type=int, default=95, help="quality of refined JPEG images")
    a.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    a.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_quiet(a)

    m = command("masks", "person masks for a real dataset (DeepLabV3, or your function)")
    m.add_argument("--input", required=True, type=Path, help="image folder or dataset")
    m.add_argument("--output", "-o", required=True, type=Path, help="folder for the mask PNGs")
    m.add_argument("--segmenter", default="deeplabv3",
                   help="deeplabv3 (torchvision; weights from --weights, the torch hub cache, or downloaded) "
                   "or python:module:function")
    m.add_argument("--weights", type=Path,
                   help="deeplabv3: a local deeplabv3_resnet50_coco-*.pth file (no download)")
    m.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_quiet(m)

    command("options", "print the default options as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, build_parser().parse_args, _run, argv, user_errors=(OptionsError, ValueError),
                   print_help=lambda: build_parser().print_help(sys.stderr))


def _run(args: argparse.Namespace) -> int:
    if args.command in ("train", "apply", "masks"):
        check_output_folder(args.output)
    if args.command == "apply":
        check_input_file(args.checkpoint, "--checkpoint", "checkpoint file")
    if getattr(args, "input", None) is not None and not args.input.is_dir():
        raise UserError(f"--input {args.input}: no such folder")
    if args.command == "options":
        print(json.dumps(RefinerOptions().to_dict(), indent=1))
    elif args.command == "train":
        return _train(args)
    elif args.command == "apply":
        from .apply import apply

        r = apply(args.checkpoint, args.input, args.output, direction=args.direction, batch_size=args.batch_size,
                  device=args.device, name=args.name, jpeg_quality=args.jpeg_quality, overwrite=args.overwrite,
                  progress=not args.quiet, strict=args.strict)
        print(f"refined {r.images} images ({r.layout}) into {r.output}")
    elif args.command == "masks":
        from .masks import deeplab_person_segmenter, segment_folder

        if args.segmenter == "deeplabv3":
            seg = deeplab_person_segmenter(args.device, weights_file=args.weights)
        elif args.segmenter.startswith("python:"):
            from .data import parse_mask_source

            source = parse_mask_source(args.segmenter, "folder")
            seg = source.fn
        else:
            raise OptionsError(f"--segmenter {args.segmenter!r}: use deeplabv3 or python:module:function")
        n = segment_folder(args.input, args.output, seg, progress=not args.quiet)
        print(f"wrote {n} masks into {args.output}; train with --target-masks folder:{args.output}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train import train

    passed = _passed_options(args)
    if args.resume:
        options, overrides = None, passed
    else:
        try:
            base = json.loads(args.options.read_text()) if args.options else {}
        except json.JSONDecodeError as exc:
            raise UserError(f"--options {args.options}: not valid JSON ({exc})") from None
        options, overrides = RefinerOptions.from_dict({**base, **passed}), None
    r = train(options, args.source, args.target, args.output, source_masks=args.source_masks,
              target_masks=args.target_masks, resume=args.resume, overrides=overrides, max_steps=args.max_steps,
              progress=not args.quiet, strict=args.strict)
    from reid.distributed import is_main_process  # under torchrun only rank 0 reports

    if is_main_process():
        print(f"trained to epoch {r.epoch}, step {r.step}; latest checkpoint {r.latest_checkpoint}")
        if r.samples:
            print(f"sample grid: {r.samples[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
