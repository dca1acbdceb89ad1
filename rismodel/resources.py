"""Where the shipped resources (default checkpoints, demo images, icons, licences) live.

``RIS_STUDIO_RESOURCES`` overrides the location; a frozen (PyInstaller) build finds them in its
bundle folder (``sys._MEIPASS/resources``); otherwise the ``resources/`` folder at the repository
root next to the package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Where packaging/build.py copies the text encoders' model folders inside resources/ (a frozen app
# cannot rely on a package's import machinery to find its data files).
TEXT_ENCODERS = "text_encoders"


def resources_dir() -> Path:
    env = os.environ.get("RIS_STUDIO_RESOURCES")
    if env:
        return Path(env)
    bundle = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def default_checkpoint(name: str) -> Path:
    """Path of the shipped checkpoint for a named model (may not exist)."""
    return resources_dir() / "models" / f"{name}.safetensors"


def bundled_text_encoder(module: str) -> Path | None:
    """The model folder of text-encoder package ``module`` copied into the resources, if any."""
    path = resources_dir() / TEXT_ENCODERS / module
    return path if (path / "config.json").is_file() else None
