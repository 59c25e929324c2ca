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
            parser.add_argument(flag, dest=f.name, nargs="+", default=default, help=help_text)
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
    info = sub.add_parser("info", help="print a dataset's sets and identity counts as JSON")
    info.add_argument("data")
    info.add_argument("--layout", default="auto")
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
        elif args.command == "info":
            from .data.layouts import LoadOptions, load_dataset

            print(json.dumps(load_dataset(args.data, LoadOptions(layout=args.layout)).summary(), indent=1))
    except (ValueError, FileNotFoundError) as exc:
        print(f"synth-reid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
