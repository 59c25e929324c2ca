"""What the three command lines (`python -m headless`, `python -m reid`, `python -m refiner`)
share, so they behave as one family (docs/cli.md):

* a user mistake (bad option, missing or unreadable file, a folder that is a file) is one
  line on stderr, ``<program> <command>: error: <message naming the file or option>``, and
  exit code 2 (`EXIT_USAGE`); never a traceback;
* `--version`, `--help` with every default shown, enumerations as argparse `choices`;
* no arguments prints the help (and exits 2);
* the same spellings: `--output`/`-o`, `--quiet`/`-q`, `--workers`; older spellings stay
  accepted as hidden aliases (`HIDDEN_ALIASES`).

Nothing here imports bpy, torch or numpy.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterable, Sequence

EXIT_OK = 0
EXIT_FAILED = 1  # the work ran, but part of it failed (failed jobs, failed stages)
EXIT_USAGE = 2  # a user mistake: bad option, invalid spec or options file, unusable input or output path
EXIT_UNFINISHED = 3  # the work stopped before the end (generate/broker: jobs left); rerun to resume
EXIT_INTERRUPTED = 130  # Ctrl-C

# The exit codes every program follows (docs/cli.md's table; its top-level help lists them).
EXIT_CODES = ((EXIT_OK, "done"), (EXIT_FAILED, "part of the work failed"), (EXIT_USAGE, "a usage or input error"),
              (EXIT_UNFINISHED, "unfinished (rerun to resume)"), (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"))
# The farm's own (python -m headless generate, broker, worker): headless.cli, headless.worker.
FARM_EXIT_CODES = ((4, "a worker's link to the broker failed"), (5, "the disk failed (fix it, rerun to resume)"))


def exit_codes_help(extra: Sequence[tuple[int, str]] = ()) -> str:
    codes = sorted((*EXIT_CODES, *extra))
    return "exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in codes) + "; see docs/cli.md"


EXIT_CODES_HELP = exit_codes_help()

# The one rule for rerunning into an existing folder (docs/cli.md, "Rerunning into a folder").
RERUN_RULE = ("a folder that holds a previous run or other files is never overwritten silently: "
              "pass --resume to continue the run there or --overwrite to replace it")

# Older spellings still accepted, but no longer shown in --help.
HIDDEN_ALIASES = frozenset({"--out", "--no-progress", "--num-workers", "--progress", "--source", "--input",
                            "--protocol"})


class UserError(Exception):
    """A mistake the user can fix; the message names the file or option."""


def field_help(cls: type) -> dict[str, str]:
    """Each dataclass field's help: the comment on the line that declares it
    (``epochs: int = 50  # training epochs``). Fields of base classes are documented where
    they are declared.

    This is the options' documented convention (docs/cli.md): `--help` is generated from it,
    and a test requires a comment on every field, so help and options cannot drift apart."""
    docs: dict[str, str] = {}
    for klass in reversed(inspect.getmro(cls)):
        if klass is object or "__dataclass_fields__" not in vars(klass):
            continue
        try:
            lines, _ = inspect.getsourcelines(klass)
        except (OSError, TypeError):
            continue
        source = textwrap.dedent("".join(lines))
        text = source.splitlines()
        for node in ast.parse(source).body[0].body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                _, sep, comment = text[node.end_lineno - 1].partition("  # ")
                docs[node.target.id] = comment.strip() if sep else ""
    return docs


DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")


def device_name_problem(name: object) -> str | None:
    """None for a device name torch and our CLIs accept, else why not (no torch import)."""
    if isinstance(name, str) and _DEVICE_RE.fullmatch(name):
        return None
    return f"must be {DEVICE_NAMES}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest known name, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_rerun(folder: str | Path, *, holds_run: bool, resume: bool = False, overwrite: bool = False,
                option: str = "--output", can_resume: bool = True) -> str:
    """The one rule for rerunning into an existing folder. Returns "new", "resume" or "overwrite".

    `holds_run`: the folder holds a previous run of this command (or, for commands that write
    a copy, anything at all). Without --resume or --overwrite such a folder is refused."""
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    if resume:
        if not holds_run:
            raise UserError(f"{option} {folder}: no run to resume there (drop --resume to start one)")
        return "resume"
    if holds_run and not overwrite:
        flags = "--resume to continue it or --overwrite to replace it" if can_resume else "--overwrite to replace it"
        raise UserError(f"{option} {folder}: holds a previous run; pass {flags}, or choose another folder")
    return "overwrite" if holds_run else "new"


def folder_has_files(folder: str | Path) -> bool:
    p = Path(folder)
    return p.is_dir() and any(p.iterdir())


def program_name(package: str, script: str) -> str:
    """How the user ran us: ``python -m reid`` or the console script ``synth-reid``."""
    argv0 = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return script if argv0 == script else f"python -m {package}"


def version_text(prog: str) -> str:
    try:
        from importlib.metadata import version

        v = version("synth-humans")
    except Exception:  # not installed: running from a plain checkout
        v = "0+unknown"
    return f"{prog} (synth-humans) {v}"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless it has none or says it already) and hides aliases."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if isinstance(action, argparse.BooleanOptionalAction) and isinstance(default, bool) and "default" not in text:
            return f"{text} (default: {'on' if default else 'off'})".lstrip()
        if (action.required or default in (None, "", [], argparse.SUPPRESS) or isinstance(default, bool)
                or "default" in text or not action.option_strings):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})".lstrip()

    def _format_action_invocation(self, action: argparse.Action) -> str:
        visible = [s for s in action.option_strings if s not in HIDDEN_ALIASES]
        if visible and visible != action.option_strings:
            action = argparse.Action(visible, action.dest, nargs=action.nargs, metavar=action.metavar,
                                     choices=action.choices)
        return super()._format_action_invocation(action)


class FamilyParser(argparse.ArgumentParser):
    """argparse with the family's error form: one line, ``<prog>: error: <message>``, exit 2
    (argparse's own prints the usage first; `--help` shows it)."""

    def error(self, message: str):
        for alias in HIDDEN_ALIASES:
            message = re.sub(f"/{alias}(?![\\w-])", "", message)
        m = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if m:
            message += did_you_mean(m[1], re.findall(r"'([^']*)'", m[2]))
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def new_parser(prog: str, description: str, **kw) -> argparse.ArgumentParser:
    p = FamilyParser(prog=prog, description=description, formatter_class=HelpFormatter, **kw)
    p.add_argument("--version", action="version", version=version_text(prog))
    return p


def add_command(sub, name: str, help: str, prog: str, **kw) -> argparse.ArgumentParser:
    """A subcommand with the family's help formatter and its own `--version`."""
    c = sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter, **kw)
    c.add_argument("--version", action="version", version=version_text(f"{prog} {name}"))
    return c


def add_output(parser: argparse.ArgumentParser, help: str, required: bool = True, dest: str = "output",
               metavar: str = "DIR", **kw) -> None:
    """`-o/--output` (`--out` is its hidden old spelling)."""
    parser.add_argument("-o", "--output", "--out", dest=dest, metavar=metavar, required=required, help=help, **kw)


def add_data(parser: argparse.ArgumentParser, help: str, aliases: Sequence[str] = (), positional: bool = True) -> None:
    """The dataset a command reads: `--data DIR`, the family's one spelling (docs/cli.md); older
    spellings (`aliases`, and a positional DATASET where `positional`) stay accepted, hidden.
    Call `take_data(args)` after parsing."""
    parser.add_argument("--data", *aliases, dest="data", metavar="DIR", default=None, help=f"{help} (required)")
    if positional:
        parser.add_argument("data_positional", nargs="?", default=None, help=argparse.SUPPRESS)


def take_data(args: argparse.Namespace) -> None:
    """Merge the positional spelling into `args.data`; refuse none or two different datasets."""
    pos = vars(args).pop("data_positional", None)
    if "data" not in vars(args):
        return
    if pos is not None and args.data is not None and pos != args.data:
        raise UserError(f"--data {args.data}: give the dataset once (also got {pos})")
    args.data = args.data or pos
    if args.data is None:
        raise UserError("--data: required: the dataset folder to read")


def quiet_logging(quiet: bool) -> None:
    """-q: only warnings and errors from the logging module (no timestamped INFO lines)."""
    import logging

    if quiet:
        logging.getLogger().setLevel(logging.WARNING)


def add_quiet(parser: argparse.ArgumentParser, dest: str = "quiet") -> None:
    """`-q/--quiet` (no progress bars); `--no-progress` is its old spelling."""
    parser.add_argument("-q", "--quiet", "--no-progress", dest=dest, action="store_true",
                        help="no progress bars, less output")


def describe_os_error(exc: OSError) -> str:
    """`path: reason` for an OSError, naming the file."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    where = f"{exc.filename} → {exc.filename2}" if exc.filename2 else str(exc.filename)
    return f"{where}: {reason}"


def check_output_folder(path: str | Path, option: str = "--output") -> Path:
    """Refuse, before any work, an output folder that cannot be created: it is a file, or
    one of its parents is a file, or the nearest existing parent is not writable."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder")
    parent = p
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: {parent} is not writable")
    return p


def check_input_file(path: str | Path, option: str, what: str = "file") -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{option} {path}: no such {what}")
    if p.is_dir():
        raise UserError(f"{option} {path}: is a folder, not a {what}")
    return p


def run_cli(prog: str, parse: Callable[[Sequence[str]], argparse.Namespace], run: Callable[[argparse.Namespace], int],
            argv: Sequence[str] | None, user_errors: tuple[type[BaseException], ...] = (),
            print_help: Callable[[], None] | None = None) -> int:
    """Parse and run a command, turning user mistakes into one line and exit code 2.

    `user_errors`: the package's own exception types that mean "the input is wrong" (their
    messages name the field or file). OSErrors (a missing file, a folder that is a file,
    no permission, a full disk) are reported as ``path: reason``. Anything else is a bug and
    keeps its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv and print_help is not None:
        print_help()
        return EXIT_USAGE
    try:
        args = parse(argv)
    except SystemExit as exc:  # argparse's --help, --version and usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command = getattr(args, "command", None)
    label = f"{prog} {command}" if command else prog
    try:
        return int(run(args) or 0)
    except UserError as exc:
        message = str(exc)
    except user_errors as exc:
        message = str(exc).strip() or type(exc).__name__
    except OSError as exc:
        message = describe_os_error(exc)
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{label}: error: {message}", file=sys.stderr)
    return EXIT_USAGE
