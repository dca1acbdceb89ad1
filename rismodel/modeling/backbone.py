"""Vision backbone with early fusion (LGFormer 3.2.1, LQMFormer 3.2).

timm's Swin Transformer, with a vision-language fusion module (VLBA, PWAM or GMMF) after the
blocks of each of the four stages, before the next stage's patch merging (timm merges at the
start of a stage, which is the same place). Each stage hands the decoder, after a per-stage
LayerNorm, as ``[B, C_i, H_i, W_i]`` at strides 4, 8, 16, 32, either the gated sum that also goes
on to the next stage (``decoder_features="gated_sum"``, the shipped models) or the fusion's fused
residual (``"fused"``: LAVT's and LGFormer's code, LQMFormer Fig. 2), while the gated sum goes on.

``post=True`` (LQMFormer Table 6 Post-CA / S-Post-CA) applies the fusions to each stage's output
for the decoder only: the stages run on unfused features ("after feature extraction").

``prefix`` is the part that provably does not depend on the text: patch embedding and the
blocks of stage 1 (the first fusion comes after them). The predictor caches it per image.

Pretrained weights: ``BackboneConfig.pretrained`` = ``timm:<name>`` (through timm, needs a
network), a path to an official ``.pth`` (loaded with ``weights_only=True``) or a timm
``.safetensors`` file, or None (random init).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..config import BackboneConfig


class BackboneWeightsError(RuntimeError):
    """Pretrained backbone weights could not be read or do not fit."""


def convert_swin_checkpoint(state: dict, swin: nn.Module) -> tuple[dict, list[str], list[str]]:
    """Official or timm Swin weights -> this backbone's keys.

    Uses timm's own ``checkpoint_filter_fn`` (old downsample-at-end layout, patch-embed and
    relative-position-table resizing), drops the classifier, and reports which backbone keys are
    missing and which checkpoint keys are unexpected.
    """
    from timm.models.swin_transformer import checkpoint_filter_fn

    converted = checkpoint_filter_fn(state, swin)
    converted = {k: v for k, v in converted.items() if not k.startswith("head")}
    own = swin.state_dict()
    own_keys = {k for k in own if "relative_position_index" not in k and "attn_mask" not in k}
    missing = sorted(own_keys - set(converted))
    unexpected = sorted(set(converted) - set(own))
    for k in list(converted):
        if k in own and converted[k].shape != own[k].shape:
            raise BackboneWeightsError(f"backbone weight '{k}' has shape {tuple(converted[k].shape)}, "
                                       f"model expects {tuple(own[k].shape)}")
    return {k: v for k, v in converted.items() if k in own}, missing, unexpected


def _read_weights(spec: str) -> dict:
    if spec.startswith("timm:"):
        import timm

        try:
            return timm.create_model(spec[5:], pretrained=True, num_classes=0).state_dict()
        except Exception as e:  # network or hub errors come in many types
            raise BackboneWeightsError(f"cannot fetch backbone weights '{spec}' through timm "
                                       f"(a network is needed; or pass a local file): {e}") from e
    path = Path(spec)
    if not path.is_file():
        raise BackboneWeightsError(f"backbone weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise BackboneWeightsError(f"cannot read backbone weights {path}: {e}") from e


class EarlyFusionSwin(nn.Module):
    strides = (4, 8, 16, 32)

    def __init__(self, cfg: BackboneConfig, image_size: int, fusions: list[nn.Module], post: bool = False):
        super().__init__()
        self.post = post
        from timm.models.swin_transformer import SwinTransformer

        if len(fusions) != len(cfg.depths):
            raise ValueError(f"need one fusion module per stage ({len(cfg.depths)}), got {len(fusions)}")
        self.cfg = cfg
        self.swin = SwinTransformer(
            img_size=image_size, patch_size=4, embed_dim=cfg.embed_dim, depths=cfg.depths,
            num_heads=cfg.num_heads, window_size=cfg.window_size, drop_path_rate=cfg.drop_path_rate,
            num_classes=0, global_pool="",
        )
        self.swin.norm = nn.Identity()  # per-stage norms below replace the classifier norm
        self.fusions = nn.ModuleList(fusions)
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in cfg.channels)
        if cfg.pretrained:
            self.load_pretrained(cfg.pretrained)

    @property
    def channels(self) -> tuple[int, ...]:
        return self.cfg.channels

    def load_pretrained(self, spec: str) -> tuple[list[str], list[str]]:
        state, missing, unexpected = convert_swin_checkpoint(_read_weights(spec), self.swin)
        self.swin.load_state_dict(state, strict=False)
        return missing, unexpected

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        """Text-independent part: patch embedding + stage-1 blocks. ``[B, H/4, W/4, C_1]`` (NHWC)."""
        x = self.swin.patch_embed(images)
        return self.swin.layers[0](x)

    def forward(self, prefix: torch.Tensor, l: torch.Tensor, l_mask: torch.Tensor
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Stage features (4 maps ``[B, C_i, H_i, W_i]``) and the language features after fusion."""
        feats = []
        x = prefix
        fused_out = self.cfg.decoder_features == "fused"
        l_in = l
        for i, stage in enumerate(self.swin.layers):
            if i > 0:
                x = stage(x)  # patch merging + blocks, NHWC
            v = x.permute(0, 3, 1, 2)  # [B, C, H, W]
            if self.post:  # fusion after feature extraction: x goes on unfused
                v, l, fused = self.fusions[i](v, l_in, l_mask, return_fused=True)
                out = fused if fused_out else v  # [B, C, H, W]
            elif fused_out:
                v, l, out = self.fusions[i](v, l, l_mask, return_fused=True)
                x = v.permute(0, 2, 3, 1).contiguous()  # the gated sum goes on to the next stage
            else:
                v, l = self.fusions[i](v, l, l_mask)
                x = v.permute(0, 2, 3, 1).contiguous()  # back to NHWC for the next stage
                out = None
            out_nhwc = x if out is None else out.permute(0, 2, 3, 1)
            feats.append(self.norms[i](out_nhwc).permute(0, 3, 1, 2).contiguous())  # [B, C_i, H_i, W_i]
        return feats, l
