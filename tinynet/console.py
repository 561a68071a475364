"""The ``tinynet`` command's entry point.

It imports nothing but the standard library's ``sys`` and the package root (which loads nothing
until used), so that Ctrl-C while NumPy and the command line load ends in the same one-line
message as Ctrl-C later, not in a traceback.
"""

from __future__ import annotations

import sys


def run() -> int:
    """Load the command line and run it on ``sys.argv``; returns the exit code (130: interrupted)."""
    try:
        from tinynet.cli import main
    except KeyboardInterrupt:
        print("tinynet: interrupted while starting; nothing was written", file=sys.stderr)
        return 130
    return main()
