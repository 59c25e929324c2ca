"""Command line: ``python -m reid {train,finetune,evaluate,plot,info}`` (also ``synth-reid``).

Every field of :class:`reid.options.TrainOptions` / :class:`reid.options.EvalOptions` is an
option (``lr`` → ``--lr``, ``num_instances`` → ``--num-instances``, booleans as
``--flip/--no-flip``); see ``python -m reid train --help``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing
from pathlib import Path

from synth_humans_addon.core.cli_conventions import (HelpFormatter, UserError, check_input_file, check_output_folder,
                                                     new_parser, program_name, run_cli)

from .options import CHOICES, EvalOptions, OptionsError, TrainOptions

PROG = program_name("reid", "synth-reid")

HELP = {
    "data": "dataset root (generated format, Market-1501, DukeMTMC-reID, MSMT17, CUHK03 .mat, or a plain folder)",
    "output": "output folder",
    "layout": "dataset layout (auto: detected)",
    "arch": "inception (the study's, from scratch), inception-ibn (with IBN-a's instance norm in its shallow "
            "layers) or resnet50 (BNNeck)",
    "height": "input height (0 = the architecture's default)",
    "width": "input width (0 = the architecture's default)",
    "weights_file": "resnet50: torchvision ResNet-50 state dict to start from (nothing is downloaded)",
    "triplet_weight": "weight of the batch-hard triplet loss (> 0 switches to P×K batches)",
    "sampler": "random, or pk (P identities × K images per batch)",
    "embedding_lr_mult": "learning-rate factor of the embedding network (1: generated → real finetuning "
                         "measured best at 1 vs 0.1, docs/results.md)",
    "resume": "continue from <output>/last.pt",
    "checkpoints": "checkpoint files (.pt) to evaluate",
    "protocols": "evaluation protocols (default: the dataset's own)",
    "subset": "which set to evaluate on",
    "strict": "refuse a dataset with missing image files (default: skip and report them)",
    "num_validation": "identities moved from train to validation where a dataset has none",
    "num_test": "folder layout: identities held out for testing",
    "split_seed": "seed of those identity splits (and of --max-identities' choice)",
    "cache_memory_mb": "decoded crops larger than this are memory-mapped in <output>/frames.u8 instead of held in "
                       "memory (0 = half the free memory)",
    "max_identities": "train on this many identities of the training set (0 = all; nested subsets per --split-seed)",
    "max_images_per_identity": "and at most this many images of each, round-robin over its cameras (0 = all)",
    "check_images": "open every image's header once and skip unreadable ones",
    "cuhk03_images": "CUHK03: labeled or detected crops",
    "cuhk03_protocol": "CUHK03: classic (20 splits of 100 test ids) or new (767/700)",
    "cuhk03_split": "CUHK03 classic: which of the 20 test splits",
    "features": "inception embedding size",
    "dropout": "dropout before the classifier",
    "last_stride": "resnet50: stride of the last stage (1 keeps more resolution)",
    "label_smoothing": "cross-entropy label smoothing",
    "triplet_margin": "triplet margin (≤ 0: soft margin)",
    "num_instances": "K of P×K batches",
    "flip": "random horizontal flips",
    "random_erasing": "random erasing probability",
    "pad": "pad-and-random-crop jitter in pixels",
    "epochs": "training epochs (at least 1)",
    "batch_size": "images per batch",
    "optimizer": "sgd (Nesterov momentum) or adam",
    "lr": "learning rate",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum",
    "weight_decay": "L2 weight decay",
    "step_size": "multiply the learning rate by gamma every this many epochs (0 = never)",
    "gamma": "learning-rate factor at each step",
    "warmup_epochs": "linear warm-up from lr/10 over this many epochs",
    "patience": "train until the validation score has not improved for this many validations (0 = every epoch; "
                "--epochs is then the most)",
    "plateau_lr_drops": "with --patience: learning-rate drops (× gamma) on a plateau before the run stops",
    "val_identities": "identities per validation draw (mixed-gallery)",
    "val_repeats": "single-shot validation draws averaged",
    "eval_every": "validate every this many epochs",
    "seed": "random seed",
    "workers": "data-loading processes (0 = in the main process)",
    "device": "auto, cpu, cuda or cuda:N",
    "threads": "torch CPU threads (0 = torch's default)",
    "names": "labels in tables and plots (default: file stems)",
    "max_rank": "highest rank of the CMC curves (cut to the gallery's identities in plots)",
    "single_shot_identities": "identities per single-shot draw (cross-camera, thesis, mixed-gallery)",
    "repeats": "random draws averaged (single-shot protocols, cuhk03)",
    "plot": "write CMC plots",
    "baselines": "non-learned rows scored beside the checkpoints (colour-histogram); --baselines with no value for none",
    "folder_role": "folder layout: split (train/validation/test by identity) | train (all of it trains) | test (all of it is the test set)",
}


def _add_dataclass_options(parser: argparse.ArgumentParser, cls, skip: set[str] = frozenset(),
                           defaults: dict | None = None, required: set[str] = frozenset()) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        t = hints[f.name]
        default = (defaults or {}).get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        kw: dict = {"dest": f.name, "help": HELP.get(f.name, "")}
        if f.name in required:
            kw["required"] = True
        else:
            kw["default"] = default
        if f.name in CHOICES:
            kw["choices"] = CHOICES[f.name]
        if f.name == "progress":  # the family's -q/--quiet; --progress/--no-progress stay accepted
            parser.add_argument("-q", "--quiet", "--no-progress", dest="progress", action="store_false",
                                default=True, help="no progress bars")
            parser.add_argument("--progress", dest="progress", action="store_true", help=argparse.SUPPRESS)
        elif t is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(t) is list:
            parser.add_argument(flag, nargs="*" if f.name == "baselines" else "+", **kw)
        else:
            parser.add_argument(flag, type=t, **kw)


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, "Train, finetune and evaluate person re-id models. Exit codes: 0 done, 2 a usage or "
                   "input error (one line naming the option or file); see docs/cli.md.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)

    tr = command("train", "train a model (best checkpoint by the validation CMC area)")
    _add_dataclass_options(tr, TrainOptions, skip={"finetune_from"}, required={"data"})
    ft = command("finetune", "continue a trained model on another dataset (new classifier g)")
    ft.add_argument("--from", dest="finetune_from", required=True, help="checkpoint to start from")
    _add_dataclass_options(ft, TrainOptions, skip={"finetune_from"}, required={"data"},
                           defaults={"output": "runs/reid-finetune"})
    ev = command("evaluate", "CMC / mAP of checkpoints on a dataset's test set; JSON, CSV, plots")
    _add_dataclass_options(ev, EvalOptions)
    pl = command("plot", "one CMC chart from several results.json files")
    pl.add_argument("results", nargs="+", help="results.json files written by `evaluate`")
    pl.add_argument("--protocol", default="cross-camera", choices=CHOICES["protocols"], help="protocol to draw")
    pl.add_argument("--names", nargs="+", default=None, help="one label per results file")
    pl.add_argument("-o", "--output", default="cmc.png", help="PNG file to write")
    info = command("info", "print a dataset's sets and identity counts as JSON")
    info.add_argument("data", help=HELP["data"])
    info.add_argument("--layout", default="auto", choices=CHOICES["layout"], help="dataset layout")
    info.add_argument("--strict", action=argparse.BooleanOptionalAction, default=False, help=HELP["strict"])
    info.add_argument("--folder-role", default="split", choices=("split", "train", "test"),
                      help="folder layout: split it, or all of it is the train or the test side")
    sp = command("split-folder", "make train/ and test/ folders (folder layout) from a flat folder of crops "
                                 "named by a site's own convention, split by identity")
    sp.add_argument("source", help="folder of crops")
    sp.add_argument("-o", "--output", "--out", dest="out", required=True,
                    help="new folder for train/, test/ and split.json")
    sp.add_argument("--pattern", default=r"(?P<pid>-?\d+)_c?(?P<cam>\d+)",
                    help="regular expression matched at the start of each file name, with a (?P<pid>…) group and "
                         "a (?P<cam>…) or (?P<slot>…) group")
    sp.add_argument("--camera-of-slot", default="", help="slot → camera ranges, e.g. 0-4=1,5-9=2 (CUHK03)")
    sp.add_argument("--test-identities", type=int, default=100, help="identities in test/")
    sp.add_argument("--seed", type=int, default=0, help="seed of the identity draw")
    sp.add_argument("--max-train-identities", type=int, default=0,
                    help="keep at most this many training identities (0 = all)")
    sp.add_argument("--max-images-per-identity", type=int, default=0,
                    help="keep at most this many training images per identity, cameras alternating (0 = all)")
    return p


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse unusable inputs and outputs before loading anything."""
    if args.command in ("train", "finetune", "evaluate"):
        check_output_folder(args.output)
    if args.command == "finetune":
        check_input_file(args.finetune_from, "--from", "checkpoint file")
    if args.command == "evaluate":
        from .engine import load_checkpoint

        for c in args.checkpoints:  # a junk file is refused before the dataset is loaded
            check_input_file(c, "--checkpoints", "checkpoint file")
            load_checkpoint(c)
    if args.command == "plot":
        for r in args.results:
            check_input_file(r, "results", "results.json file")
        check_output_folder(Path(args.output).parent, "--output")


def _run(args: argparse.Namespace) -> int:
    from .distributed import is_main_process  # under torchrun only rank 0 reports

    level = (logging.DEBUG if args.verbose else logging.INFO) if is_main_process() else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    values = {k: v for k, v in vars(args).items() if k not in ("command", "verbose")}
    _check_paths(args)
    try:
        if args.command in ("train", "finetune"):
            opt = TrainOptions(**values).validate()
            from .engine import train

            result = train(opt)
            if is_main_process():
                    print(json.dumps({"best_checkpoint": str(result.best_checkpoint), "best_score": result.best_score,
                                  "best_epoch": result.best_epoch}, indent=1))
        elif args.command == "evaluate":
            opt = EvalOptions(**values).validate()
            from .evaluate import evaluate

            report = evaluate(opt)
            print(json.dumps({n: {p: {k: r[k] for k in ("rank1", "rank5", "rank10", "area", "mAP")}
                                  for p, r in res.items()} for n, res in report["models"].items()}, indent=1))
            print(json.dumps(report["files"], indent=1))
        elif args.command == "plot":
            from .evaluate import plot_results

            print(plot_results(args.results, args.protocol, args.output, args.names))
        elif args.command == "split-folder":
            from .data.folder_split import NamingRule, parse_camera_of_slot, split_folder

            rule = NamingRule(args.pattern, parse_camera_of_slot(args.camera_of_slot))
            summary = split_folder(args.source, args.out, rule, args.test_identities, args.seed,
                                   args.max_train_identities, args.max_images_per_identity)
            print(json.dumps({k: v for k, v in dataclasses.asdict(summary).items() if k != "skipped"}
                             | {"skipped_files": len(summary.skipped)}, indent=1))
        elif args.command == "info":
            from .data import LoadOptions, load_dataset

            data = load_dataset(args.data, LoadOptions(layout=args.layout, strict=args.strict,
                                                          folder_role=args.folder_role))
            print(json.dumps(data.summary(), indent=1))
    except OptionsError as exc:
        if exc.field in values:
            raise UserError(f"--{exc.field.replace('_', '-')} {values[exc.field]}: {exc.reason}") from None
        raise
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, build_parser().parse_args, _run, argv, user_errors=(ValueError,),
                   print_help=lambda: build_parser().print_help(sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
