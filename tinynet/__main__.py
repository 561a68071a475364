"""``python -m tinynet`` runs the ``tinynet`` command."""

import sys

from tinynet.console import run

sys.exit(run())
