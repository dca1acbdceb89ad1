"""Autosave soak: ``python scripts/soak_autosave.py --kills 200`` or ``python scripts/soak.py autosave``.

The code is in :mod:`app.project.soak` (the tests run it with a few kills); this file is the
subcommand ``scripts/soak.py`` loads (``HELP``, ``add_arguments``, ``run``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.project.soak import HELP, add_arguments, main, run

__all__ = ["HELP", "add_arguments", "run"]

if __name__ == "__main__":
    sys.exit(main())
