"""Make an ``--init`` checkpoint for a new recipe from an older trained model (issue 9).

The v2 recipes change a few shapes (CoordConv's two extra input channels, LGFormer's presence
head) but keep most weights. This builds the model of ``--config`` and copies every tensor of
``--from`` whose name and shape match. A tensor that only grew along its input-channel axis (the
FPN output conv that now also sees the coordinate channels) gets the old weights in its leading
slice and zeros in the new part, so the copied network computes what it did before the new
inputs are learnt. Everything else keeps its fresh initialisation and is listed.

    python scripts/warm_start.py --config configs/lgformer-compact-v2.yaml \
        --from resources/models/lgformer-compact.safetensors --out runs/warm/lgformer-v2-init.safetensors
    rismodel train --config configs/lgformer-compact-v2.yaml --init runs/warm/lgformer-v2-init.safetensors

The provenance (source file, copied/grown/fresh counts) goes into the checkpoint's meta, and
``rismodel train --init`` records the init file in the trained checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from rismodel.checkpoint import TEXT_PREFIX


def warm_start(model: torch.nn.Module, old: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy ``old`` into ``model`` where it fits; return the names copied, grown and left fresh.

    The state dict's tensors are the model's own storage, so copying into them sets the weights."""
    report: dict[str, list[str]] = {"copied": [], "grown": [], "fresh": []}
    with torch.no_grad():
        for name, target in model.state_dict().items():
            src = old.get(name)
            if src is None and name.startswith(TEXT_PREFIX):
                continue  # the frozen package text encoder is not stored; it comes from its package
            if src is not None and src.shape == target.shape:
                target.copy_(src.to(target.dtype))
                report["copied"].append(name)
            elif (src is not None and target.is_floating_point() and src.dim() == target.dim() >= 2
                  and src.shape[0] == target.shape[0] and src.shape[2:] == target.shape[2:]
                  and src.shape[1] < target.shape[1]):  # more input channels: old ones kept, new ones 0
                target.zero_()
                target[:, : src.shape[1]].copy_(src.to(target.dtype))
                report["grown"].append(name)
            else:
                report["fresh"].append(name)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="training config of the new recipe (YAML)")
    p.add_argument("--from", dest="source", required=True, help="trained checkpoint to copy from")
    p.add_argument("--out", required=True, help="init checkpoint to write (.safetensors)")
    args = p.parse_args(argv)

    from rismodel.checkpoint import load_state, read_header, save_checkpoint
    from rismodel.registry import build_model
    from rismodel.training.config import load_train_config, resolve_model_config

    cfg = resolve_model_config(load_train_config(args.config))
    old_cfg, _ = read_header(args.source)
    if old_cfg.architecture != cfg.architecture:
        print(f"{args.source} is {old_cfg.architecture}, the config builds {cfg.architecture}", file=sys.stderr)
        return 2
    build_cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, pretrained=None))
    torch.manual_seed(0)
    model = build_model(build_cfg)
    report = warm_start(model, load_state(args.source))
    meta = {"warm_start_from": str(args.source), "warm_start_config": str(args.config),
            **{f"warm_start_{k}": len(v) for k, v in report.items()}}
    save_checkpoint(args.out, model, cfg, meta)
    for k, v in report.items():
        print(f"{k}: {len(v)}" + (f"  ({', '.join(v[:8])}{' ...' if len(v) > 8 else ''})" if k != "copied" else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
