"""Where the shipped resources (default checkpoints, demo images, icons) live.

``RIS_STUDIO_RESOURCES`` overrides the location (packaged installers set it); otherwise the
``resources/`` folder at the repository root next to the package.
"""

from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    env = os.environ.get("RIS_STUDIO_RESOURCES")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "resources"


def default_checkpoint(name: str) -> Path:
    """Path of the shipped checkpoint for a named model (may not exist)."""
    return resources_dir() / "models" / f"{name}.safetensors"
