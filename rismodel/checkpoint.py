"""Checkpoints: one ``.safetensors`` file = weights + JSON config + JSON provenance.

The safetensors header's string metadata holds:
- ``format``: ``rismodel-checkpoint/1``
- ``config``: the model config (:func:`rismodel.config.to_dict`), which includes the tokenizer
  (text encoder name, max tokens) and preprocessing (image size, mean, std);
- ``meta``: what it was trained on and how (dataset, steps, hardware, wall time, ...).

Nothing is unpickled. Frozen text-encoder weights that load from their own package or hub name
are not stored (they are not part of what was trained); loading rebuilds them from the config.
Every way a file can be wrong raises :class:`CheckpointError` with a message naming the problem:
the whole config is checked against its schema before any module is built, a text encoder
``package:`` name must be one of :data:`~rismodel.modeling.text_encoder.KNOWN_PACKAGES` (checked
before any import), and weights must be finite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .config import ConfigError, ModelConfig, config_from_dict, to_dict
from .fileio import atomic_write_bytes
from .modeling.text_encoder import KNOWN_PACKAGES, TextEncoderError

FORMAT = "rismodel-checkpoint/1"
TEXT_PREFIX = "text_encoder.model."


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, of another format, or does not fit its config."""


def _stored_state(model: nn.Module, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if not cfg.text.trainable and not cfg.text.random_init:
        state = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIX)}
    # safetensors refuses shared storage; every tensor gets its own contiguous copy.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_checkpoint(path: str | os.PathLike, model: nn.Module, cfg: ModelConfig, meta: dict | None = None) -> None:
    """Write atomically; a crash mid-write leaves any previous file intact."""
    from safetensors.torch import save

    metadata = {"format": FORMAT, "config": json.dumps(to_dict(cfg)), "meta": json.dumps(meta or {})}
    atomic_write_bytes(path, save(_stored_state(model, cfg), metadata=metadata))


def read_header(path: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """Config and provenance without reading the weights."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        kind = "not a regular file" if path.exists() else "not found"
        raise CheckpointError(f"checkpoint {kind}: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as e:  # safetensors raises SafetensorError/OSError for bad headers
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint (truncated or another "
                              f"format?): {e}") from e
    if metadata.get("format") != FORMAT:
        fmt = metadata.get("format")
        raise CheckpointError(f"{path} is a safetensors file but not a rismodel checkpoint "
                              f"(format {fmt if len(str(fmt)) < 80 else str(fmt)[:77] + '...'!r}, "
                              f"expected {FORMAT!r})")
    if "config" not in metadata:
        raise CheckpointError(f"{path} has no config in its header")
    try:
        # RecursionError: a config nested thousands of levels deep.
        data, meta = json.loads(metadata["config"]), json.loads(metadata.get("meta", "{}"))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: the header's config or meta is not valid JSON "
                              f"({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the header's meta must be a JSON object, got {type(meta).__name__}")
    try:
        cfg = config_from_dict(data)
    except ConfigError as e:
        raise CheckpointError(f"{path} has an invalid config: {e}") from None
    if cfg.text.name.startswith("package:"):
        module = cfg.text.name.split(":", 1)[1]
        if module not in KNOWN_PACKAGES:  # refused here already, so that nothing is ever imported
            raise CheckpointError(f"{path}: its text encoder package {module!r} is not one this program "
                                  f"knows (allowed: {', '.join(sorted(KNOWN_PACKAGES))})")
    return cfg, meta


def load_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as e:
        raise CheckpointError(f"cannot read the weights in {path} (truncated file?): {e}") from e
    # NaN/inf weights give NaN scores and empty masks that would pass for a result.
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} weight tensors hold NaN or infinite values "
                              f"(e.g. {', '.join(bad[:3])}); the checkpoint is broken")
    return state


def load_weights_into(model: nn.Module, cfg: ModelConfig, state: dict[str, torch.Tensor], where: str) -> None:
    """Strict load, except frozen package text encoders that are not stored."""
    own = model.state_dict()
    optional = TEXT_PREFIX if (not cfg.text.trainable and not cfg.text.random_init) else None
    missing = [k for k in own if k not in state and not (optional and k.startswith(optional))]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
             for k in state if k in own and state[k].shape != own[k].shape]
    wrong += [f"{k} is {state[k].dtype}, the model needs {own[k].dtype}" for k in state
              if k in own and state[k].dtype != own[k].dtype
              and not (state[k].is_floating_point() and own[k].is_floating_point())]
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing weights (e.g. {', '.join(missing[:3])})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected weights (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            problems.append(f"{len(wrong)} weights of the wrong shape (e.g. {'; '.join(wrong[:3])})")
        raise CheckpointError(f"{where}: the weights do not match the {cfg.architecture} config: "
                              + "; ".join(problems))
    model.load_state_dict(state, strict=False)


def load_checkpoint(path: str | os.PathLike, expect_architecture: str | None = None
                    ) -> tuple[nn.Module, ModelConfig, dict]:
    """Build the model from the stored config and load its weights (on the CPU)."""
    from .registry import build_model

    cfg, meta = read_header(path)
    if expect_architecture and cfg.architecture != expect_architecture:
        raise CheckpointError(f"{path} holds a {cfg.architecture} model, expected {expect_architecture}")
    state = load_state(path)
    import dataclasses

    # Stored weights replace the pretrained backbone; never fetch it again.
    cfg_build = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, pretrained=None))
    try:
        model = build_model(cfg_build)
    except TextEncoderError as e:
        raise CheckpointError(f"{path}: {e}") from None
    load_weights_into(model, cfg, state, str(path))
    model.eval()
    return model, cfg, meta
