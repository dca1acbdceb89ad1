"""The ``rismodel`` command line.

Each subcommand lives in ``rismodel/commands/<name>.py`` and provides ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import torch only inside
``run`` so that ``rismodel --help`` stays fast.

Errors reach the user as one line on stderr and a non-zero exit, never a traceback:
- argument errors (argparse, and the shared validators below): exit 2;
- :class:`UserError` and every error class the ``rismodel`` package defines (they carry a message
  written for the user: bad image, bad checkpoint, full disk, ...): exit 2;
- anything else is a bug: one line naming it, the traceback saved to a log file, exit 1.
Output streams replace what they cannot encode (a non-UTF-8 file name under a strict UTF-8
terminal) instead of failing after the work is done.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
import time
import traceback

COMMANDS = ["models", "info", "predict", "bench", "synth", "pretrain", "train", "eval", "annotate"]


class UserError(Exception):
    """A problem the user can fix (bad path, bad checkpoint, bad argument): printed, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block would bury the message)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----- shared argument validators (argparse ``type=``) ---------------------------------------

def probability(text: str) -> float:
    """A threshold in [0, 1] by the predictor's own rule (NaN and infinities are refused)."""
    from .predictor import PredictorError, check_threshold  # imports torch: only when given

    try:
        return check_threshold(text)
    except PredictorError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


positive_int = _int_at_least(1)
non_negative_int = _int_at_least(0)


def existing_file(text: str) -> str:
    """A path that must name a regular file (a FIFO or a device would block or never end)."""
    import stat

    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{text}: no such file") from None
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{text}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise argparse.ArgumentTypeError(f"{text} is not a regular file (a FIFO, device or socket)")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: permission denied")
    return text


def json_text(obj, **kw) -> str:
    """Strict JSON (no NaN/Infinity, which strict readers reject): non-finite floats become null."""
    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(obj), allow_nan=False, **kw)


# ----- entry point ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rismodel", description="Referring image segmentation: "
                     "LGFormer and LQMFormer models, data, training and evaluation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = importlib.import_module(f"rismodel.commands.{name}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _safe_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (or closed)
            pass


def _is_project_error(e: BaseException) -> bool:
    """Error classes defined in the rismodel package carry messages written for the user."""
    return any(c.__module__.startswith("rismodel.") and issubclass(c, Exception)
               for c in type(e).__mro__[:-1] if c is not UserError)


def _one_line(text: str, limit: int = 1000) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit] + " ..."


def _crash_log(command: str, e: BaseException) -> str | None:
    """Save the traceback of an unexpected error; returns the log's path (None if it failed)."""
    try:
        fd, path = tempfile.mkstemp(prefix=f"rismodel-{command}-{time.strftime('%Y%m%d-%H%M%S')}-",
                                    suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"rismodel {command}: argv {sys.argv!r}\n")
            f.write("".join(traceback.format_exception(e)))
        return path
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    _safe_streams()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a bad argument (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    prefix = f"rismodel {args.command}"
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"{prefix}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{prefix}: error: out of memory (is an input much larger than expected?)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `rismodel ... | head`: the reader left; nothing to report
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter's exit flush needs a file
        except OSError:
            pass
        return 1
    except Exception as e:  # noqa: BLE001 - the last-resort handler: one line, never a traceback
        if _is_project_error(e):
            print(f"{prefix}: error: {_one_line(e)}", file=sys.stderr)
            return 2
        # A bug: the user gets one line; the traceback goes to a file (or stderr on request).
        if os.environ.get("RISMODEL_TRACEBACK"):
            traceback.print_exc()
        log = _crash_log(args.command, e)
        where = f"details in {log}" if log else "no log could be written"
        print(f"{prefix}: unexpected error: {type(e).__name__}: {_one_line(e, 300)} ({where}; "
              "set RISMODEL_TRACEBACK=1 to print it; please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
