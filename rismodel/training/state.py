"""Fault-tolerant training checkpoints: weights + training state, written atomically as a pair.

Layout in the run folder::

    checkpoints/step-000500.safetensors   model weights + config + meta (rismodel.checkpoint):
                                          loadable by the predictor as is
    checkpoints/step-000500.state.pt      optimizer, scheduler, step, epoch, position in the
                                          epoch, samples seen, wall time, RNG states of every rank
    latest.json                           {"step": 500, "weights": ..., "state": ...}
    model.safetensors                     the final weights (written when the run finishes)

Each file is written atomically (temp file + rename), and ``latest.json`` is replaced only after
both files of a step exist, so a crash at any moment leaves ``latest.json`` naming a complete,
consistent pair. Older pairs are deleted after the pointer moves. The state file holds tensors and
plain Python values only (numpy RNG state converted to lists), so it loads with
``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..fileio import atomic_write_bytes, atomic_write_json

LATEST = "latest.json"
FINAL = "model.safetensors"
STATE_FORMAT = "rismodel-train-state/1"


class StateError(RuntimeError):
    """A run folder cannot be resumed (missing, inconsistent or corrupt files)."""


# ---------------------------------------------------------------- RNG

def capture_rng() -> dict:
    """RNG states of python, numpy, torch (CPU) and every CUDA device, as plain data."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], np.asarray(npst[1], dtype=np.uint32), npst[2], npst[3], npst[4]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------- files

def _step_name(step: int) -> str:
    return f"step-{step:07d}"


def save_training_checkpoint(out_dir: str | Path, step: int, model: torch.nn.Module, model_cfg,
                             meta: dict, train_state: dict) -> Path:
    """Write the weights/state pair for ``step``, move ``latest.json`` to it, drop older pairs."""
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    weights = ckpt_dir / f"{_step_name(step)}.safetensors"
    state_path = ckpt_dir / f"{_step_name(step)}.state.pt"
    save_checkpoint(weights, model, model_cfg, meta)
    buf = io.BytesIO()
    torch.save({"format": STATE_FORMAT, "step": step, **train_state}, buf)
    atomic_write_bytes(state_path, buf.getvalue())
    atomic_write_json(out_dir / LATEST, {"step": step, "weights": str(weights.relative_to(out_dir)),
                                         "state": str(state_path.relative_to(out_dir))}, indent=2)
    keep = {weights.name, state_path.name}
    for old in ckpt_dir.glob("step-*"):
        if old.name not in keep and not old.name.startswith("."):
            old.unlink(missing_ok=True)
    return weights


def read_latest(out_dir: str | Path) -> dict | None:
    """``{"step", "weights": Path, "state": Path}`` of the last complete checkpoint, or None."""
    out_dir = Path(out_dir)
    path = out_dir / LATEST
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        latest = {"step": int(info["step"]), "weights": out_dir / info["weights"],
                  "state": out_dir / info["state"]}
    except (ValueError, KeyError, TypeError) as e:
        raise StateError(f"{path} is corrupt: {e}") from e
    for key in ("weights", "state"):
        if not latest[key].is_file():
            raise StateError(f"{path} names {latest[key]}, which is missing")
    return latest


def load_train_state(path: str | Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated / foreign files
        raise StateError(f"cannot read training state {path}: {e}") from e
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateError(f"{path} is not a rismodel training state ({STATE_FORMAT})")
    return state
