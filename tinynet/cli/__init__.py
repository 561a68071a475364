"""The ``tinynet`` command: ``train``, ``summary``, ``predict`` and ``gradcheck``.

``tinynet train`` keeps every flag of the seed project (same long and short spellings, types,
choices and defaults); dash spellings such as ``--learning-rate`` are aliases. Bad input ends with
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import tinynet as tn
from tinynet.cli.parser import CLIError, build_parser
from tinynet.cli.tools import run_gradcheck, run_predict, run_summary
from tinynet.cli.train import run_train
from tinynet.serialization import ModelFileError

COMMANDS = {"train": run_train, "summary": run_summary, "predict": run_predict, "gradcheck": run_gradcheck}


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed check or training, 2 bad input)."""
    stream = out if out is not None else sys.stdout
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, stream)
    except CLIError as error:
        print(f"tinynet: error: {error}", file=sys.stderr)
        return 2
    except tn.TrainingDivergedError as error:
        print(f"tinynet: training failed: {error}", file=sys.stderr)
        return 1
    except (ModelFileError, ValueError, TypeError, OSError) as error:
        print(f"tinynet: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinynet: interrupted", file=sys.stderr)
        return 130


__all__ = ["CLIError", "build_parser", "main"]
