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

from .options import EvalOptions, TrainOptions

HELP = {
    "data": "dataset root (generated format, Market-1501, DukeMTMC-reID, MSMT17, CUHK03 .mat, or a plain folder)",
    "output": "output folder",
    "layout": "auto | generated | market1501 | dukemtmc | msmt17 | cuhk03 | folder",
    "arch": "inception (the study's, from scratch) | resnet50 (BNNeck)",
    "height": "input height (0 = the architecture's default)",
    "width": "input width (0 = the architecture's default)",
    "weights_file": "resnet50: torchvision ResNet-50 state dict to start from (nothing is downloaded)",
    "triplet_weight": "weight of the batch-hard triplet loss (> 0 switches to P×K batches)",
    "sampler": "random | pk (P identities × K images per batch)",
    "embedding_lr_mult": "learning-rate factor of the embedding network (finetuning lowers it)",
    "resume": "continue from <output>/last.pt",
    "checkpoints": "checkpoint files (.pt) to evaluate",
    "baselines": "non-learned rows scored beside the checkpoints: colour-histogram; --baselines with no value for none",
    "folder_role": "folder layout: split (train/validation/test by identity) | train (all of it trains) | test (all of it is the test set)",
    "protocols": "market1501 | cuhk03 | single-shot (default: the dataset's own)",
    "subset": "test | validation",
}


def _add_dataclass_options(parser: argparse.ArgumentParser, cls, skip: set[str] = frozenset(),
                           defaults: dict | None = None) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        t = hints[f.name]
        default = (defaults or {}).get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        help_text = HELP.get(f.name, "") + f" (default: {default})"
        if t is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(t) is list:
            parser.add_argument(flag, dest=f.name, nargs="*" if f.name == "baselines" else "+", default=default,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=t, default=default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synth-reid", description="Train, finetune and evaluate person re-id models.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a model (best checkpoint by the validation CMC area)")
    _add_dataclass_options(tr, TrainOptions, skip={"finetune_from"})
    ft = sub.add_parser("finetune", help="continue a trained model on another dataset (new classifier g)")
    ft.add_argument("--from", dest="finetune_from", required=True, help="checkpoint to start from")
    _add_dataclass_options(ft, TrainOptions, skip={"finetune_from"},
                           defaults={"embedding_lr_mult": 0.1, "output": "runs/reid-finetune"})
    ev = sub.add_parser("evaluate", help="CMC / mAP of checkpoints on a dataset's test set; JSON, CSV, plots")
    _add_dataclass_options(ev, EvalOptions)
    pl = sub.add_parser("plot", help="one CMC chart from several results.json files")
    pl.add_argument("results", nargs="+", help="results.json files written by `evaluate`")
    pl.add_argument("--protocol", default="single-shot")
    pl.add_argument("--names", nargs="+", default=None)
    pl.add_argument("--output", default="cmc.png")
    sp = sub.add_parser("split-folder", help="make train/ and test/ folders (folder layout) from a flat folder of "
                                             "crops named by a site's own convention, split by identity")
    sp.add_argument("source", help="folder of crops")
    sp.add_argument("--out", "--output", dest="out", required=True, help="new folder for train/, test/, split.json")
    sp.add_argument("--pattern", default=r"(?P<pid>-?\d+)_c?(?P<cam>\d+)",
                    help="regular expression matched at the start of each file name, with a (?P<pid>…) group and "
                         "a (?P<cam>…) or (?P<slot>…) group (default: %(default)s)")
    sp.add_argument("--camera-of-slot", default="", help="slot → camera ranges, e.g. 0-4=1,5-9=2 (CUHK03)")
    sp.add_argument("--test-identities", type=int, default=100, help="identities in test/ (default: %(default)s)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the identity draw (default: %(default)s)")
    sp.add_argument("--max-train-identities", type=int, default=0,
                    help="keep at most this many training identities (0 = all; default: %(default)s)")
    sp.add_argument("--max-images-per-identity", type=int, default=0,
                    help="keep at most this many training images per identity, cameras alternating "
                         "(0 = all; default: %(default)s)")
    info = sub.add_parser("info", help="print a dataset's sets and identity counts as JSON")
    info.add_argument("data")
    info.add_argument("--layout", default="auto")
    info.add_argument("--folder-role", default="split", choices=("split", "train", "test"),
                      help="folder layout: split it, or all of it is the train or the test side (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    values = {k: v for k, v in vars(args).items() if k not in ("command", "verbose")}
    try:
        if args.command in ("train", "finetune"):
            from .engine import train

            result = train(TrainOptions(**values))
            print(json.dumps({"best_checkpoint": str(result.best_checkpoint), "best_score": result.best_score,
                              "best_epoch": result.best_epoch}, indent=1))
        elif args.command == "evaluate":
            from .evaluate import evaluate

            report = evaluate(EvalOptions(**values))
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
            from .data.layouts import LoadOptions, load_dataset

            print(json.dumps(load_dataset(args.data, LoadOptions(layout=args.layout,
                                                                 folder_role=args.folder_role)).summary(), indent=1))
    except (ValueError, FileNotFoundError) as exc:
        print(f"synth-reid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
