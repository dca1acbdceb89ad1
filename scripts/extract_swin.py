"""Write the Swin blocks of a trained compact model as a backbone file for ``model.backbone.pretrained``.

A controlled comparison of two recipes (lgformer.md Table 3 at the v2 recipe, README) starts both
runs from the same visual backbone and fresh everything else:

    python scripts/extract_swin.py resources/models/lgformer-compact.safetensors runs/t3/swin.safetensors
    rismodel train --config configs/lgformer-compact-v2.yaml --set model.backbone.pretrained=runs/t3/swin.safetensors ...
"""
from __future__ import annotations

import argparse

from safetensors.torch import load_file, save_file

PREFIX = "backbone.swin."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a compact model's .safetensors")
    p.add_argument("out", help="the backbone file to write")
    args = p.parse_args(argv)
    state = load_file(args.checkpoint)
    swin = {k[len(PREFIX):]: v.contiguous() for k, v in state.items() if k.startswith(PREFIX)}
    if not swin:
        raise SystemExit(f"{args.checkpoint}: no '{PREFIX}*' tensors (not a compact Swin model)")
    save_file(swin, args.out)
    print(f"{len(swin)} Swin tensors -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
