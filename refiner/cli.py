"""`python -m refiner` / `synth-refiner`: train, apply, masks, match, segmenter, identity-check, options.

Every field of RefinerOptions is a `train` flag (`lambda_person` → `--lambda-person`), and
likewise MatchOptions for `match` and SegmenterOptions for `segmenter`, so each options
object stays the one place that defines its flags and their help.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from synth_humans_addon.core.cli_conventions import (EXIT_CODES_HELP, EXIT_INTERRUPTED, UserError, add_command,
                                                     add_data, add_output, add_quiet, check_input_file,
                                                     check_output_folder, check_rerun, device_name_problem, field_help,
                                                     folder_has_files, new_parser, program_name, quiet_logging,
                                                     run_cli, take_data)

from .options import CHOICES, OptionsError, RefinerOptions
from .identity_check import ALL_SUBSETS, COLOUR_HISTOGRAM
from .segmenter_options import SegmenterOptions
from .stats_match import MATCH_CHOICES, MatchOptions

PROG = program_name("refiner", "synth-refiner")
STRICT_HELP = "refuse a generated dataset with missing files (default: skip them with a warning)"
THREADS_HELP = "CPU threads for torch (0 = torch's default; on a busy shared machine 1 is faster)"


def _add_option_flags(parser: argparse.ArgumentParser, cls: type = RefinerOptions,
                      title: str = "refiner options (all of them: `python -m refiner options`)",
                      choices: dict[str, tuple[str, ...]] = CHOICES) -> None:
    """One flag per field of the options dataclass `cls`, its help the field's comment."""
    group = parser.add_argument_group(title)
    defaults = cls()
    docs = field_help(cls)  # each field's comment in the options module is its help
    for f in dataclasses.fields(cls):
        names = ["--" + f.name.replace("_", "-")]
        if f.name == "num_workers":  # the family's spelling; --num-workers stays accepted
            names = ["--workers", "--num-workers"]
        default = getattr(defaults, f.name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        # argparse's default stays None: only options given on the command line override
        # an --options file or a resumed run's options.
        kw: dict[str, Any] = {"dest": f"opt_{f.name}", "default": None,
                              "help": f"{docs.get(f.name, '')} (default: {shown})".lstrip()}
        if f.name in choices:
            kw["choices"] = choices[f.name]
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
    p = new_parser(PROG, "Refiners (CycleGAN, PTGAN, SPGAN's loss, a non-GAN match): make generated people look "
                   "like a real camera's.",
                   epilog=EXIT_CODES_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return add_command(sub, name, help, PROG)

    t = command("train", "train a refiner (generated → real)")
    add_data(t, "generated dataset (domain A)", aliases=("--source",), positional=False)
    t.add_argument("--target", required=True, metavar="DIR",
                   help="real images: a folder, a Market-1501 folder or a dataset (domain B)")
    add_output(t, "run folder (checkpoints, samples, losses)")
    for side in ("source", "target"):
        t.add_argument(f"--{side}-masks", help="auto (default; on --resume: as started) | none | dataset | "
                       "folder:PATH | ours[:PATH] (our segmenter) | python:mod:func")
    t.add_argument("--options", type=Path, help="JSON file of options (e.g. a run's options.json); flags override it")
    t.add_argument("--resume", action="store_true", help="continue the run in --output from checkpoints/latest.pt")
    t.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    t.add_argument("--max-steps", type=int, help="stop after this many steps in all (smoke tests)")
    t.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_quiet(t)
    _add_option_flags(t)

    a = command("apply", "write a refined copy of a dataset")
    a.add_argument("--checkpoint", required=True, type=Path, help="a refiner checkpoint (checkpoints/latest.pt)")
    add_data(a, "dataset or image folder to refine", aliases=("--input",), positional=False)
    add_output(a, "folder for the refined copy", type=Path)
    a.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                   help="AtoB: generated → real look (G_A, the refiner)")
    a.add_argument("--batch-size", type=int, default=0, help="0 = 16 on a GPU, 4 on the CPU")
    a.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the checkpoint's)")
    a.add_argument("--name", default=None, help="name of the refined dataset (default <name>-refined)")
    a.add_argument("--jpeg-quality", type=int, default=95, help="quality of refined JPEG images")
    a.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    a.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_quiet(a)

    m = command("masks", "person masks for a real dataset (our segmenter, DeepLabV3, or your function)")
    add_data(m, "image folder or dataset", aliases=("--input",), positional=False)
    add_output(m, "folder for the mask PNGs", type=Path)
    m.add_argument("--segmenter", default="deeplabv3",
                   help="ours:PATH (a `segmenter` run folder or checkpoint; `ours` alone: $SYNTH_HUMANS_SEGMENTER, "
                   "else ~/.cache/synth-humans/segmenter.pt), deeplabv3 (torchvision; weights from --weights, the "
                   "torch hub cache, or downloaded) or python:module:function")
    m.add_argument("--weights", type=Path,
                   help="deeplabv3: a local deeplabv3_resnet50_coco-*.pth file (no download)")
    m.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    m.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    m.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    add_quiet(m)

    mt = command("match", "the non-GAN refiner: a copy with the target's colour statistics, blur, noise and JPEG")
    add_data(mt, "generated dataset (or image folder) to refine", positional=False)
    mt.add_argument("--target", required=True, metavar="DIR",
                    help="real images: a folder, a Market-1501 folder or a dataset (measured once)")
    add_output(mt, "folder for the matched copy", type=Path)
    for side in ("source", "target"):
        mt.add_argument(f"--{side}-masks", help="auto (default) | none | dataset | folder:PATH | ours[:PATH] | "
                        "python:mod:func: masks for --regions masks")
    mt.add_argument("--name", default=None, help="name of the matched dataset (default <name>-refined)")
    mt.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    mt.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_quiet(mt)
    _add_option_flags(mt, MatchOptions, "match options", MATCH_CHOICES)

    g = command("segmenter", "train the person segmenter on a generated dataset's exact masks (for `masks "
                "--segmenter ours:DIR`)")
    add_data(g, "generated dataset (images with masks)", positional=False)
    add_output(g, "run folder (segmenter.pt, history.jsonl, report.json, heldout.png)", type=Path)
    g.add_argument("--resume", action="store_true", help="continue the run in --output (only --epochs, --threads, "
                   "--device may change; with no epochs left: evaluate again)")
    g.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    add_quiet(g)
    _add_option_flags(g, SegmenterOptions, "segmenter options", {})

    ic = command("identity-check", "does a refined copy keep identities apart? within/between distances and "
                 "rank-1 of a re-id embedding, generated against refined (the same images)")
    add_data(ic, "the generated dataset (or any re-id dataset)", positional=False)
    ic.add_argument("--refined", required=True, metavar="DIR", help="its refined copy (refiner apply or match)")
    ic.add_argument("--reid", required=True, metavar="CHECKPOINT",
                    help="a re-id checkpoint of this project (e.g. runs/x/best.pt), or colour-histogram")
    ic.add_argument("--subsets", nargs="+", default=list(ALL_SUBSETS), choices=ALL_SUBSETS,
                    help="which sets' images (default: all; prefer identities the checkpoint did not train on)")
    ic.add_argument("--max-identities", type=int, default=0,
                    help="at most this many identities (a seeded choice, the same in both copies; 0 = all)")
    ic.add_argument("--seed", type=int, default=0, help="seed of the --max-identities choice")
    ic.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ic.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    ic.add_argument("--json", action="store_true", help="print the report as JSON")
    add_output(ic, "also write the report as JSON to this file", required=False, metavar="FILE", type=Path)
    add_quiet(ic)

    add_quiet(command("options", "print the default options as JSON"))
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, build_parser().parse_args, _run, argv, user_errors=(OptionsError, ValueError),
                   print_help=lambda: build_parser().print_help(sys.stderr))


def _run(args: argparse.Namespace) -> int:
    try:
        return _run_command(args)
    except OptionsError as exc:
        if exc.field is None:
            raise
        flag = {"num_workers": "--workers"}.get(exc.field, "--" + exc.field.replace("_", "-"))
        passed = _passed_options(args) if args.command in ("train", "segmenter", "match") else {}
        source = "" if exc.field in passed else f" (from {args.options or 'the resumed run'})" \
            if getattr(args, "options", None) or getattr(args, "resume", False) else ""
        raise UserError(f"{flag} {exc.value}{source}: {exc.reason}") from None


def _run_command(args: argparse.Namespace) -> int:
    quiet_logging(getattr(args, "quiet", False))
    take_data(args)
    if args.command in ("train", "apply", "masks", "segmenter", "match"):
        check_output_folder(args.output)
    if getattr(args, "device", None) is not None and device_name_problem(args.device):
        raise UserError(f"--device {args.device}: {device_name_problem(args.device)}")
    if args.command in ("masks", "identity-check") and args.threads:
        if args.threads < 0:
            raise UserError(f"--threads {args.threads}: must not be negative")
        import torch

        torch.set_num_threads(args.threads)
    if args.command == "apply":
        check_input_file(args.checkpoint, "--checkpoint", "checkpoint file")
    if args.command in ("apply", "masks", "segmenter", "match") and not Path(args.data).is_dir():
        raise UserError(f"--data {args.data}: no such folder")
    if args.command == "masks":
        check_rerun(args.output, holds_run=folder_has_files(args.output), overwrite=args.overwrite, can_resume=False)
    if args.command == "options":
        print(json.dumps(RefinerOptions().to_dict(), indent=1))
    elif args.command == "train":
        return _train(args)
    elif args.command == "segmenter":
        return _segmenter(args)
    elif args.command == "match":
        return _match(args)
    elif args.command == "identity-check":
        return _identity_check(args)
    elif args.command == "apply":
        from .apply import apply

        r = apply(args.checkpoint, Path(args.data), args.output, direction=args.direction, batch_size=args.batch_size,
                  device=args.device, name=args.name, jpeg_quality=args.jpeg_quality, overwrite=args.overwrite,
                  progress=not args.quiet, strict=args.strict)
        print(f"refined {r.images} images ({r.layout}) into {r.output}")
    elif args.command == "masks":
        from .masks import deeplab_person_segmenter, segment_folder

        if args.segmenter == "ours" or args.segmenter.startswith("ours:"):
            from .segmenter import load_segmenter

            try:
                seg = load_segmenter(args.segmenter[len("ours:"):] or None, args.device)
            except (FileNotFoundError, ValueError) as exc:
                raise UserError(f"--segmenter {args.segmenter}: {exc}") from None
        elif args.segmenter == "deeplabv3":
            seg = deeplab_person_segmenter(args.device, weights_file=args.weights)
        elif args.segmenter.startswith("python:"):
            from .data import parse_mask_source

            try:
                seg = parse_mask_source(args.segmenter, "folder").fn
            except (ImportError, AttributeError) as exc:  # the user's module or function is not there
                raise UserError(f"--segmenter {args.segmenter}: {type(exc).__name__}: {exc}") from None
        else:
            raise UserError(f"--segmenter {args.segmenter!r}: use ours[:PATH], deeplabv3 or python:module:function")
        n = segment_folder(Path(args.data), args.output, seg, progress=not args.quiet)
        print(f"wrote {n} masks into {args.output}; train with --target-masks folder:{args.output}")
    return 0


def _identity_check(args: argparse.Namespace) -> int:
    from .identity_check import checkpoint_embedding, colour_histogram_embedding, format_identity_check, identity_check

    for flag, folder in (("--data", args.data), ("--refined", args.refined)):
        if not Path(folder).is_dir():
            raise UserError(f"{flag} {folder}: no such folder")
    if args.max_identities < 0 or args.max_identities == 1:
        raise UserError(f"--max-identities {args.max_identities}: must be 0 (all) or at least 2")
    if args.output is not None:
        check_output_folder(args.output.parent)
    if args.reid == COLOUR_HISTOGRAM:
        embed = colour_histogram_embedding()
    else:
        check_input_file(args.reid, "--reid", "re-id checkpoint")
        embed = checkpoint_embedding(args.reid, args.device, progress=not args.quiet)
    report = identity_check(args.data, args.refined, embed, args.subsets, args.max_identities, args.seed,
                            embedding=args.reid)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1) if args.json else format_identity_check(report))
    return 0


def _match(args: argparse.Namespace) -> int:
    from .stats_match import match_dataset

    if not Path(args.target).is_dir():
        raise UserError(f"--target {args.target}: no such folder")
    check_rerun(args.output, holds_run=folder_has_files(args.output), overwrite=args.overwrite, can_resume=False)
    opts = MatchOptions(**_passed_options(args)).validate()
    r = match_dataset(args.data, args.target, args.output, opts, source_masks=args.source_masks,
                      target_masks=args.target_masks, name=args.name, overwrite=args.overwrite,
                      progress=not args.quiet, strict=args.strict)
    st = r.stats
    regions = "person and background" if "person" in st.source else "whole crops"
    camera = (f"; added blur σ {st.blur_sigma[0]:.2f}–{st.blur_sigma[1]:.2f} px, noise σ {st.noise_std[0]:.4f}–"
              f"{st.noise_std[1]:.4f}, JPEG {'%d–%d' % tuple(st.jpeg_quality) if st.jpeg_quality else 'none'}"
              if st.blur_sigma is not None else "")
    print(f"matched {r.images} images into {r.output} ({regions}, {opts.colour_space}, scope {opts.scope}{camera}); "
          f"measured in {r.measure_seconds:.0f} s, written in {r.write_seconds:.0f} s "
          f"({60 * r.images / max(r.write_seconds, 1e-9):.0f} images/min)")
    return 0


def _segmenter(args: argparse.Namespace) -> int:
    from .segmenter import CHECKPOINT_NAME, train_segmenter

    passed = _passed_options(args)
    holds = (Path(args.output) / CHECKPOINT_NAME).is_file()
    check_rerun(args.output, holds_run=holds, resume=args.resume, overwrite=args.overwrite)
    options = None if args.resume else SegmenterOptions(**passed).validate()
    try:
        r = train_segmenter(args.data, args.output, options, resume=args.resume, overrides=passed if args.resume else None,
                            progress=not args.quiet)
    except KeyboardInterrupt:
        import shlex

        print(f"{PROG} segmenter: interrupted; resume with: {PROG} segmenter --data {shlex.quote(str(args.data))} "
              f"-o {shlex.quote(str(args.output))} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    h, d = r.report["heldout"], r.report["heldout_degraded"]
    print(f"held-out IoU {h['iou_mean']:.4f} (pooled {h['iou_pooled']:.4f}) on {h['images']} images of "
          f"{r.report['heldout_identities']} generated identities; with extra camera degradation "
          f"{d['iou_mean']:.4f}; the average training mask alone {r.report['heldout_prior_iou']:.4f}; "
          f"{r.report['train_minutes']:.1f} min of training")
    print(f"segmenter: {r.checkpoint}; masks with: {PROG} masks --segmenter ours:{r.output} --data REAL -o MASKS")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train import train

    passed = _passed_options(args)
    latest = Path(args.output) / "checkpoints" / "latest.pt"
    if check_rerun(args.output, holds_run=latest.is_file(), resume=args.resume, overwrite=args.overwrite) == "overwrite":
        latest.unlink()
    if args.resume:
        options, overrides = None, passed
    else:
        if args.options is not None:
            check_input_file(args.options, "--options", "options file")
        try:
            base = json.loads(args.options.read_text()) if args.options else {}
        except json.JSONDecodeError as exc:
            raise UserError(f"--options {args.options}: not valid JSON ({exc})") from None
        if not isinstance(base, dict):
            raise UserError(f"--options {args.options}: expected a JSON object of options, got {type(base).__name__}")
        try:
            options, overrides = RefinerOptions.from_dict({**base, **passed}), None
        except OptionsError as exc:
            if exc.field is None or exc.field in passed:
                raise
            raise UserError(f"--options {args.options}: {exc}") from None
    try:
        r = train(options, args.data, args.target, args.output, source_masks=args.source_masks,
                  target_masks=args.target_masks, resume=args.resume, overrides=overrides, max_steps=args.max_steps,
                  progress=not args.quiet, strict=args.strict)
    except KeyboardInterrupt:
        import shlex

        how = (f"resume with: {PROG} train --data {shlex.quote(str(args.data))} --target "
               f"{shlex.quote(str(args.target))} -o {shlex.quote(str(args.output))} --resume") if latest.is_file() \
            else "no checkpoint was written yet; start again with --overwrite"
        print(f"{PROG} train: interrupted; {how}", file=sys.stderr)
        return EXIT_INTERRUPTED
    from torchkit.distributed import is_main_process  # under torchrun only rank 0 reports

    if is_main_process():
        print(f"trained to epoch {r.epoch}, step {r.step}; latest checkpoint {r.latest_checkpoint}")
        if r.samples:
            print(f"sample grid: {r.samples[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
