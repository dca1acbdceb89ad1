"""Gaussian-enhanced Multi-Modal Fusion (LQMFormer 3.2, 3.2.1, Fig. 3).

One GMMF sits after the blocks of each Swin stage (fusion-module contract of docs/internals.md):

1. 1x1 projections of vision ``F_vi`` and language ``F_l`` to a common width ``C_i``.
2. MHCA giving a language-aware, vision-shaped ``F'_vl``.
3. Gaussian Enhancement Block (3.2.1 equation):
   ``F_vl = FFT^-1(Conv(FR(phi(F'_vl, beta) * A(F'_vl), P(F'_vl)))) + F'_vl``.
4. Projection back to ``C`` and residual gating (3.2): ``F_v' = F_v + psi_vl(F_vl) * F_vl``; the gate's
   last layer starts at zero so a pretrained backbone is undisturbed at the start of training.

MHCA direction. The paper says "language features act as queries and vision features as keys and
values" but also that the result is "vision-shaped". Language queries would give a ``[T, C]``
output, which can neither be Fourier-filtered over H x W nor gated into ``F_v``. We read it the way
LAVT's PWAM (which 3.2 follows for the gating) does: every pixel is a query attending to the
masked words (keys/values), so the output has one vector per pixel. ``F'_vl`` is the usual
cross-attention block ``LayerNorm(x + MHCA(x, F_l))`` so it carries the pixel's own content as well
as the words it attends to.

``gaussian=False`` drops step 3 (Table 6 "VL-Grounding" in every stage, "Post-CA" after the
backbone). :class:`NoFusion` is Table 6's "Baseline" (no modality fusion in the encoder).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .vlba import zero_gate


class GaussianEnhancementBlock(nn.Module):
    """Adaptive Gaussian low-pass on the FFT amplitude, phase kept (3.2.1, Fig. 3).

    The bandwidth ``beta`` (in cycles per sample, the unit of ``torch.fft.fftfreq``) is predicted
    per sample from the input: small conv -> global average pool -> MLP -> softplus. The FFT runs in
    float32 even under autocast (half-precision FFTs lose the small high-frequency terms and only
    support power-of-two sizes on CUDA).
    """

    def __init__(self, dim: int, init_beta: float = 0.25, min_beta: float = 1e-3):
        super().__init__()
        hidden = max(dim // 4, 8)
        self.beta_conv = nn.Sequential(nn.Conv2d(dim, hidden, 3, padding=1), nn.GELU())
        self.beta_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.min_beta = min_beta
        # Start near init_beta: softplus^-1(init_beta - min_beta) as the last bias.
        with torch.no_grad():
            self.beta_mlp[-1].bias.fill_(math.log(math.expm1(init_beta - min_beta)))
        # "Conv" on the stacked real/imaginary parts; identity at init so the block starts as a
        # pure low-pass (no bias: a constant added to every frequency is a spatial impulse).
        self.spec_conv = nn.Conv2d(2 * dim, 2 * dim, 1, bias=False)
        with torch.no_grad():
            self.spec_conv.weight.copy_(torch.eye(2 * dim)[:, :, None, None])

    def bandwidth(self, x: torch.Tensor) -> torch.Tensor:
        """beta, one positive value per sample: ``[B]``."""
        pooled = self.beta_conv(x).mean(dim=(2, 3))  # [B, hidden]
        return F.softplus(self.beta_mlp(pooled)).squeeze(-1) + self.min_beta  # [B]

    @staticmethod
    def gaussian(beta: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """phi(., beta): ``exp(-(fy^2 + fx^2) / (2 beta^2))`` on the unshifted FFT grid, ``[B, 1, H, W]``.

        ``fftfreq`` puts zero frequency at index 0, so no fftshift is needed.
        """
        fy = torch.fft.fftfreq(h, device=beta.device, dtype=beta.dtype)  # [H]
        fx = torch.fft.fftfreq(w, device=beta.device, dtype=beta.dtype)  # [W]
        r2 = fy[:, None] ** 2 + fx[None, :] ** 2  # [H, W]
        return torch.exp(-r2[None, None] / (2 * beta[:, None, None, None] ** 2))

    def low_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """FR(phi * A, P): the filtered complex spectrum ``[B, C, H, W]`` and beta ``[B]`` (float32)."""
        x = x.float()
        spec = torch.fft.fft2(x, norm="ortho")  # [B, C, H, W] complex
        amp, phase = spec.abs(), spec.angle()  # A(F'_vl), P(F'_vl)
        beta = self.bandwidth(x)
        amp = self.gaussian(beta, x.shape[-2], x.shape[-1]) * amp  # phi(F'_vl, beta) * A
        return torch.polar(amp, phase), beta  # FR: amplitude and phase -> complex spectrum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec, _ = self.low_pass(x)
            c = x.shape[1]
            mixed = self.spec_conv(torch.cat([spec.real, spec.imag], dim=1))  # Conv, [B, 2C, H, W]
            spec = torch.complex(mixed[:, :c], mixed[:, c:])
            out = torch.fft.ifft2(spec, norm="ortho").real  # FFT^-1, [B, C, H, W]
            out = out + x.float()  # 3.2.1 equation: + F'_vl
        return out.to(dtype)


class GMMF(nn.Module):
    """Fusion module: ``forward(v [B,C,H,W], l [B,T,C_l], l_mask [B,T]) -> (v', l)``."""

    def __init__(self, vis_dim: int, text_dim: int, common_dim: int, num_heads: int, gaussian: bool = True):
        super().__init__()
        if common_dim % num_heads:
            raise ValueError(f"GMMF common width {common_dim} is not divisible by {num_heads} heads")
        self.vis_proj = nn.Linear(vis_dim, common_dim)  # 1x1 conv on the map == Linear on tokens
        self.lang_proj = nn.Linear(text_dim, common_dim)
        self.mhca = nn.MultiheadAttention(common_dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(common_dim)
        self.enhance = GaussianEnhancementBlock(common_dim) if gaussian else None
        self.out_proj = nn.Linear(common_dim, vis_dim)
        self.gate = zero_gate(vis_dim)  # psi_vl, ends in tanh, last layer zero

    def forward(self, v: torch.Tensor, l: torch.Tensor, l_mask: torch.Tensor, return_fused: bool = False):
        b, c, h, w = v.shape
        if l_mask.shape != l.shape[:2]:
            raise ValueError(f"language mask shape {tuple(l_mask.shape)} does not match features "
                             f"{tuple(l.shape[:2])}")
        vt = v.flatten(2).transpose(1, 2)  # [B, HW, C]
        xv = self.vis_proj(vt)  # [B, HW, C_i]
        xl = self.lang_proj(l)  # [B, T, C_i]
        # Pixels query the words; padded words are ignored. A sentence with no real token would
        # make every attention row empty (NaN), so treat its first token as real.
        pad = l_mask == 0
        pad = pad & ~(pad.all(dim=1, keepdim=True) & (torch.arange(pad.shape[1], device=pad.device) == 0))
        att, _ = self.mhca(xv, xl, xl, key_padding_mask=pad, need_weights=False)  # [B, HW, C_i]
        f = self.norm(xv + att)  # F'_vl
        if self.enhance is not None:
            f = f.transpose(1, 2).reshape(b, -1, h, w)  # [B, C_i, H, W]
            f = self.enhance(f).flatten(2).transpose(1, 2)  # F_vl, [B, HW, C_i]
        f = self.out_proj(f)  # [B, HW, C]
        vt = vt + self.gate(f) * f  # 3.2: F_v + psi_vl(F_vl) * F_vl
        out = vt.transpose(1, 2).reshape(b, c, h, w)
        if return_fused:  # F_vl (projected to the stage width): what Fig. 2 hands the decoder
            return out, l, f.transpose(1, 2).reshape(b, c, h, w)
        return out, l


class NoFusion(nn.Module):
    """Table 6 "Baseline" / Table 3(b): no modality fusion; the stage output passes unchanged."""

    def forward(self, v: torch.Tensor, l: torch.Tensor, l_mask: torch.Tensor, return_fused: bool = False):
        return (v, l, v) if return_fused else (v, l)
