"""LQMFormer training losses (3.3.1 Eq. 3-5, 3.4, and the mask / no-target losses of 3.1).

- Mask loss: sigmoid BCE + Dice on the merged mask of every decoder prediction (deep supervision,
  summed over the 3L + 1 predictions, as Mask2Former). Computed at the prediction's 1/4
  resolution against the ground truth area-downsampled to it (soft targets at object borders).
  No-target samples (empty ground truth) get the BCE, which teaches an empty mask (what the
  generalised metrics reward), but no Dice: Dice of an empty target is degenerate.
- Scoring loss (Eq. 3-5): likelihood map LM from the decoder's cross-attention maps, top
  ``ceil(rho * N_qb)`` queries of each sample as positives (detached), BCE against M_b.
- QM-loss (3.4): ``max(0, margin - d_nn)`` with ``d_nn`` each mask embedding's Euclidean distance
  to its nearest other query of the same sample, averaged over queries and samples.
- No-target loss: BCE of the presence logit against ``has_target``.
- ``qm_target="mask_cosine"`` (a deviation, issue 9): the Euclidean margin is met by growing the
  embeddings apart while the masks stay the same (measured: loss 0.001 with a mean pairwise mask
  cosine of 0.91). This variant acts on the collapse itself as Fig. 1 measures it: the hinge
  ``max(0, cos(m_i, m_j) - qm_cosine_margin)`` on the sigmoid query masks, averaged over pairs.
  Measured in a short run: it did not undo a collapse in training, because the gradient of a function of the
  cosine shrinks to zero as two masks become identical (the cosine is at its maximum there), so the
  mask losses drown it.
- ``qm_target="mask_distance"`` (a deviation, issue 9): the paper's loss, max(0, margin - distance to
  the nearest other query), on the unit-normalised sigmoid query masks instead of the embeddings.
  Normalised, it cannot be met by growing norms; a distance (not its square) keeps a unit gradient
  (on the sphere) as two masks approach each other. The distance is sqrt(2 - 2 cos), so margin 0.6
  asks cos < 0.82.

Eq. (3)-(4) taken literally are constant: every row of a softmax-over-pixels attention map sums
to one, so after resizing, every query's sum over pixels is the same number (up to interpolation
border effects) and the top-rho choice would be arbitrary. We therefore measure the attention
*directed towards each query*: each layer's map is normalised over queries at every pixel (the
share of that pixel's attention taken by each query) before the bilinear resize and the sums.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import LQMFormerConfig


def dice_loss(logits: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor) -> torch.Tensor:
    """Soft Dice over targeted samples (Dice of an empty target is degenerate). ``[B, 1, h, w]`` each."""
    keep = has_target.bool()
    if not keep.any():
        return logits.sum() * 0.0  # keeps the graph connected for DDP-style training
    p = logits[keep].sigmoid().flatten(1)  # [B_t, hw]
    t = target[keep].flatten(1)
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()


def mask_losses(logits: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BCE over all samples and Dice over targeted samples. ``logits [B, 1, h, w]``, ``target [B, 1, h, w]``."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    return bce, dice_loss(logits, target, has_target)


def likelihood_map(attn_maps: list[torch.Tensor], attn_sizes: list[tuple[int, int]],
                   eps: float = 1e-6) -> torch.Tensor:
    """LM ``[B, Q]`` (Eq. 3-4) from per-layer attention ``[B, Q, h*w]`` (see the module docstring)."""
    if not attn_maps:
        raise ValueError("the scoring loss needs the decoder's cross-attention maps")
    size = max(attn_sizes, key=lambda s: s[0] * s[1])  # common HW: the finest level (1/8)
    a_qf = 0.0
    for a, (h, w) in zip(attn_maps, attn_sizes):
        share = a / (a.sum(dim=1, keepdim=True) + eps)  # attention towards each query, per pixel
        share = share.unflatten(2, (h, w))  # [B, Q, h, w]
        a_qf = a_qf + F.interpolate(share, size=size, mode="bilinear", align_corners=False)  # Eq. (3)
    return a_qf.flatten(2).sum(-1)  # Eq. (4), [B, Q]


def top_rho_targets(lm: torch.Tensor, rho: float) -> torch.Tensor:
    """LM_bin ``[B, Q]``: 1 for each sample's top ``ceil(rho * Q)`` queries, else 0 (no gradient)."""
    if not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho}")
    k = max(1, math.ceil(rho * lm.shape[1] - 1e-9))  # tolerance: 0.2 * 100 is 20.000000000000004
    idx = lm.detach().topk(k, dim=1).indices
    return torch.zeros_like(lm, dtype=torch.float32).scatter_(1, idx, 1.0)


def score_loss(score_logits: torch.Tensor, lm_bin: torch.Tensor) -> torch.Tensor:
    """Eq. (5): BCE between M_b (as logits ``[B, Q, 1]``) and LM_bin ``[B, Q]``."""
    return F.binary_cross_entropy_with_logits(score_logits.squeeze(-1).float(), lm_bin)


def qm_loss(embeddings: torch.Tensor, margin: float) -> torch.Tensor:
    """3.4: mean over queries of ``max(0, margin - distance to the nearest other query)``.

    ``embeddings [B, Q, D]``. Distances from the Gram matrix (no ``[B, Q, Q, D]`` tensor), with a
    floor under the square root so identical embeddings still get a finite gradient.
    """
    if embeddings.shape[1] < 2:
        return embeddings.sum() * 0.0
    x = embeddings.float()
    sq = x.square().sum(-1)  # [B, Q]
    d2 = sq[:, :, None] + sq[:, None, :] - 2 * x @ x.transpose(1, 2)  # [B, Q, Q]
    dist = d2.clamp_min(1e-8).sqrt()
    eye = torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
    nearest = dist.masked_fill(eye, float("inf")).amin(dim=-1)  # second smallest incl. self, [B, Q]
    return F.relu(margin - nearest).mean()


def pairwise_mask_cosine(query_masks: torch.Tensor) -> torch.Tensor:
    """Cosine similarity ``[B, Q, Q]`` between the sigmoid query masks ``[B, Q, h, w]`` (Fig. 1)."""
    p = normalised_query_masks(query_masks)
    return p @ p.transpose(1, 2)


def normalised_query_masks(query_masks: torch.Tensor) -> torch.Tensor:
    """The sigmoid query masks ``[B, Q, h, w]`` as unit vectors ``[B, Q, hw]`` (Fig. 1's space)."""
    return F.normalize(query_masks.float().sigmoid().flatten(2), dim=-1, eps=1e-6)


def query_collapse(query_masks: torch.Tensor, high: float = 0.9) -> dict[str, float]:
    """Query collapse as Fig. 1 shows it: the mean pairwise cosine of the query masks (self pairs
    excluded) and the share of pairs above ``high``; 1.0 / 1.0 is total collapse."""
    q = query_masks.shape[1]
    if q < 2:
        return {"mean_cosine": float("nan"), "share_above": float("nan")}
    off = ~torch.eye(q, dtype=torch.bool, device=query_masks.device)
    c = pairwise_mask_cosine(query_masks)[:, off]  # [B, Q(Q-1)]
    return {"mean_cosine": float(c.mean()), "share_above": float((c > high).float().mean())}


def qm_mask_cosine_loss(query_masks: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over query pairs of ``max(0, cos(sigmoid m_i, sigmoid m_j) - margin)`` (see the docstring)."""
    q = query_masks.shape[1]
    if q < 2:
        return query_masks.sum() * 0.0
    off = ~torch.eye(q, dtype=torch.bool, device=query_masks.device)
    return F.relu(pairwise_mask_cosine(query_masks)[:, off] - margin).mean()


def lqmformer_loss(cfg: LQMFormerConfig, outputs: dict, masks: torch.Tensor, has_target: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
    """All LQMFormer losses; the weighted total is under ``"loss"``, parts are detached copies."""
    final = outputs["pred_masks"]
    if masks.dim() != 3 or masks.shape[0] != final.shape[0]:
        raise ValueError(f"masks must be [B, S, S] with B = {final.shape[0]}, got {tuple(masks.shape)}")
    target = F.interpolate(masks[:, None].float(), size=final.shape[-2:], mode="area")  # [B, 1, h, w]
    bce = dice = 0.0
    for m in outputs["aux_masks"] + [final]:
        b, d = mask_losses(m.float(), target, has_target)
        bce, dice = bce + b, dice + d
    total = cfg.mask_weight * bce + cfg.dice_weight * dice
    parts = {"loss_bce": bce, "loss_dice": dice}
    presence = F.binary_cross_entropy_with_logits(outputs["presence_logits"].float(), has_target.float())
    total = total + cfg.no_target_weight * presence
    parts["loss_no_target"] = presence
    if cfg.scoring_network and cfg.score_learning:
        with torch.no_grad():  # LM_bin is a target: no gradient into the decoder's attention
            lm_bin = top_rho_targets(likelihood_map(outputs["attn_maps"], outputs["attn_sizes"]), cfg.rho)
        s = score_loss(outputs["score_logits"], lm_bin)
        total = total + cfg.score_weight * s
        parts["loss_score"] = s
    if cfg.qm_loss:
        if cfg.qm_target == "mask_cosine":
            q = qm_mask_cosine_loss(outputs["query_masks"], cfg.qm_cosine_margin)
        elif cfg.qm_target == "mask_distance":
            q = qm_loss(normalised_query_masks(outputs["query_masks"]), cfg.qm_margin)
        else:
            q = qm_loss(outputs["mask_embeddings"], cfg.qm_margin)
        total = total + cfg.qm_weight * q
        parts["loss_qm"] = q
    out = {k: v.detach() for k, v in parts.items()}
    out["loss"] = total
    return out
