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
import warnings
from pathlib import Path

from synth_humans_addon.core.cli_conventions import (HelpFormatter, UserError, check_input_file, check_output_folder,
                                                     EXIT_CODES_HELP, EXIT_INTERRUPTED, add_command, add_data,
                                                     check_rerun, take_data,
                                                     device_name_problem, field_help, new_parser, program_name,
                                                     quiet_logging, run_cli)

from .data.registry import canonical_layout
from .options import CHOICES, EvalOptions, OptionsError, TrainOptions

PROG = program_name("reid", "synth-reid")

# Fields whose flag is not --<field-name>; the help of every option is its field's comment
# in reid/options.py (reid/data/loading.py for the dataset fields): see field_help.
FLAG_OF = {"finetune_from": "--from"}
RUN_FILES = ("last.pt", "best.pt", "history.json", "log.csv")  # what `train` writes into its --output


def flag_of(field: str) -> str:
    return FLAG_OF.get(field, "--" + field.replace("_", "-"))


def _add_dataclass_options(parser: argparse.ArgumentParser, cls, skip: set[str] = frozenset(),
                           defaults: dict | None = None, required: set[str] = frozenset()) -> None:
    hints = typing.get_type_hints(cls)
    docs = field_help(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        t = hints[f.name]
        default = (defaults or {}).get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        kw: dict = {"dest": f.name, "help": docs.get(f.name, "")}
        if f.name in required:
            kw["required"] = True
        else:
            kw["default"] = default
        if f.name in CHOICES:
            kw["choices"] = CHOICES[f.name]
        if f.name == "output":  # the family's -o/--output, a folder the user names
            parser.add_argument("-o", "--output", "--out", dest="output", metavar="DIR", required=True,
                                help=kw["help"])
        elif f.name == "data":  # the dataset a command reads: --data (docs/cli.md)
            parser.add_argument("--data", dest="data", metavar="DIR", required=True, help=kw["help"])
        elif f.name == "progress":  # the family's -q/--quiet; --progress/--no-progress stay accepted
            parser.add_argument("-q", "--quiet", "--no-progress", dest="progress", action="store_false",
                                default=True, help="no progress bars")
            parser.add_argument("--progress", dest="progress", action="store_true", help=argparse.SUPPRESS)
        elif t is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif f.name == "channels_last":  # {auto,on,off} as the refiner spells it; the old switches stay
            parser.add_argument(flag, **kw)
            parser.add_argument("--no-channels-last", dest=f.name, action="store_const", const="off",
                                help=argparse.SUPPRESS)
        elif typing.get_origin(t) is list:
            parser.add_argument(flag, nargs="*" if f.name == "baselines" else "+", **kw)
        else:
            parser.add_argument(flag, type=canonical_layout if f.name == "layout" else t, **kw)


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, "Train, finetune and evaluate person re-id models.", epilog=EXIT_CODES_HELP)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return add_command(sub, name, help, PROG)

    def overwrite(c: argparse.ArgumentParser, what: str) -> None:
        c.add_argument("--overwrite", action="store_true",
                       help=f"replace {what} in --output (docs/cli.md: rerunning into a folder)")

    tr = command("train", "train a model (best checkpoint by the validation CMC area)")
    _add_dataclass_options(tr, TrainOptions, skip={"finetune_from"}, required={"data"})
    overwrite(tr, "a previous run's checkpoints and history")
    ft = command("finetune", "continue a trained model on another dataset (new classifier g)")
    ft.add_argument("--from", dest="finetune_from", required=True, metavar="CHECKPOINT",
                    help="checkpoint to start from (best.pt or last.pt of `train`)")
    _add_dataclass_options(ft, TrainOptions, skip={"finetune_from"}, required={"data"})
    overwrite(ft, "a previous run's checkpoints and history")
    ev = command("evaluate", "CMC / mAP of checkpoints on a dataset's test set; JSON, CSV, plots")
    _add_dataclass_options(ev, EvalOptions)
    overwrite(ev, "a previous evaluation's results")
    pl = command("plot", "one CMC chart from several results.json files")
    pl.add_argument("results", nargs="+", help="results.json files written by `evaluate`")
    pl.add_argument("--protocols", "--protocol", dest="protocol", default="cross-camera",
                    choices=CHOICES["protocols"], help="protocol to draw")
    pl.add_argument("--names", nargs="+", default=None, help="one label per results file (default: the folders' names)")
    pl.add_argument("-o", "--output", metavar="FILE", default="cmc.png", help="PNG file to write")
    pl.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    load_docs = field_help(TrainOptions)
    info = command("info", "print a dataset's sets and identity counts as JSON")
    add_data(info, load_docs["data"])
    info.add_argument("--layout", default="auto", type=canonical_layout, choices=CHOICES["layout"],
                      help=load_docs["layout"])
    info.add_argument("--strict", action=argparse.BooleanOptionalAction, default=False, help=load_docs["strict"])
    info.add_argument("--folder-role", default="split", choices=CHOICES["folder_role"], help=load_docs["folder_role"])
    info.add_argument("-q", "--quiet", action="store_true", help="no warnings about skipped files")
    dg = command("diagnose", "how far colour alone tells a dataset's identities apart: cross-camera rank-1 of a "
                             "colour histogram, and the colour spread of people and backgrounds (docs/results.md)")
    add_data(dg, load_docs["data"])
    dg.add_argument("--layout", default="auto", type=canonical_layout, choices=CHOICES["layout"],
                    help=load_docs["layout"])
    dg.add_argument("--subsets", nargs="+", default=["train"],
                    choices=("train", "validation", "query", "gallery"), help="which sets' crops to pool")
    dg.add_argument("--max-identities", type=int, default=0,
                    help="read the crops of at most this many identities (a seeded choice; 0 = all)")
    dg.add_argument("--seed", type=int, default=0, help="seed of the --max-identities choice")
    dg.add_argument("--json", action="store_true", help="print the diagnostics as JSON")
    dg.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp = command("split-folder", "make train/ and test/ folders (folder layout) from a flat folder of crops "
                                 "named by a site's own convention, split by identity")
    add_data(sp, "folder of crops")
    sp.add_argument("-o", "--output", "--out", dest="out", metavar="DIR", required=True,
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
    sp.add_argument("-q", "--quiet", action="store_true", help="no warnings about skipped files")
    return p


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse unusable inputs and outputs before loading anything."""
    take_data(args)
    if args.command in ("train", "finetune", "evaluate"):
        check_output_folder(args.output)
        problem = device_name_problem(args.device)
        if problem:
            raise UserError(f"--device {args.device}: {problem}")
    if args.command in ("train", "finetune"):
        out = Path(args.output)
        mode = check_rerun(args.output, holds_run=any((out / f).exists() for f in RUN_FILES), resume=args.resume,
                           overwrite=args.overwrite)
        if mode == "overwrite":
            for f in RUN_FILES:
                (out / f).unlink(missing_ok=True)
    if args.command == "evaluate":
        check_rerun(args.output, holds_run=(Path(args.output) / "results.json").exists(), overwrite=args.overwrite,
                    can_resume=False)
        if args.names and len(args.names) != len(args.checkpoints):
            raise UserError(f"--names: {len(args.names)} labels for {len(args.checkpoints)} checkpoints")
    if args.command in ("finetune", "evaluate"):
        from .checkpoints import load_checkpoint

        checkpoints = [args.finetune_from] if args.command == "finetune" else args.checkpoints
        option = "--from" if args.command == "finetune" else "--checkpoints"
        for c in checkpoints:  # a junk file is refused before the dataset is decoded
            check_input_file(c, option, "checkpoint file")
            with warnings.catch_warnings():  # torch's warnings about a foreign pickle: the error says it all
                warnings.simplefilter("ignore")
                load_checkpoint(c)
    if args.command == "plot":
        for r in args.results:
            check_input_file(r, "results", "results.json file")
        check_output_folder(Path(args.output).parent, "--output")
        if args.names and len(args.names) != len(args.results):
            raise UserError(f"--names: {len(args.names)} labels for {len(args.results)} results files")


def _run(args: argparse.Namespace) -> int:
    from torchkit.distributed import is_main_process  # under torchrun only rank 0 reports

    level = (logging.DEBUG if args.verbose else logging.INFO) if is_main_process() else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    quiet_logging(getattr(args, "quiet", False) or getattr(args, "progress", True) is False)
    _check_paths(args)
    values = {k: v for k, v in vars(args).items() if k not in ("command", "verbose", "overwrite")}
    try:
        if args.command in ("train", "finetune"):
            opt = TrainOptions(**values).validate()
            from .engine import train

            try:
                result = train(opt)
            except KeyboardInterrupt:
                _report_interrupted(args)
                return EXIT_INTERRUPTED
            if is_main_process():
                print(json.dumps({"best_checkpoint": str(result.best_checkpoint), "best_score": result.best_score,
                                  "best_epoch": result.best_epoch}, indent=1))
        elif args.command == "diagnose":
            from .diagnose import diagnose, format_diagnosis

            report = diagnose(args.data, layout=args.layout, subsets=args.subsets,
                              max_identities=args.max_identities, seed=args.seed, progress=not args.quiet)
            print(json.dumps(report, indent=1) if args.json else format_diagnosis(report))
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
            summary = split_folder(args.data, args.out, rule, args.test_identities, args.seed,
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
            value = values[exc.field]
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            raise UserError(f"{flag_of(exc.field)} {shown}: {exc.reason}") from None
        raise
    return 0


def _report_interrupted(args: argparse.Namespace) -> None:
    """After Ctrl-C: how to go on (the same command with --resume once a checkpoint exists)."""
    import shlex

    argv = [a for a in _ARGV if a not in ("--overwrite", "--resume")]
    command = " ".join([PROG, *map(shlex.quote, argv)])
    if (Path(args.output) / "last.pt").is_file():
        how = f"resume with: {command} --resume"
    else:
        how = f"no checkpoint was written yet; start again with: {command} --overwrite"
    print(f"{PROG} {args.command}: interrupted; {how}", file=sys.stderr)


_ARGV: list[str] = []


def main(argv: list[str] | None = None) -> int:
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    return run_cli(PROG, build_parser().parse_args, _run, argv, user_errors=(ValueError,),
                   print_help=lambda: build_parser().print_help(sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
