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
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

EXIT_OK = 0
EXIT_FAILED = 1  # the work ran, but part of it failed (failed jobs, failed stages)
EXIT_USAGE = 2  # a user mistake: bad option, invalid spec or options file, unusable input or output path
EXIT_UNFINISHED = 3  # the work stopped before the end (generate/broker: jobs left); rerun to resume
EXIT_INTERRUPTED = 130  # Ctrl-C

# Older spellings still accepted, but no longer shown in --help.
HIDDEN_ALIASES = frozenset({"--out", "--no-progress", "--num-workers", "--progress"})


class UserError(Exception):
    """A mistake the user can fix; the message names the file or option."""


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


def new_parser(prog: str, description: str, **kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter, **kw)
    p.add_argument("--version", action="version", version=version_text(prog))
    return p


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
    args = parse(argv)
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
