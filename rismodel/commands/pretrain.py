"""``rismodel pretrain``: pretrain a compact model's Swin on SynthRef attribute maps."""

from __future__ import annotations

HELP = ("Pretrain a model's Swin backbone on a SynthRef training split (dense shape, colour, "
        "texture and size segmentation; the stand-in for ImageNet pretraining) and write it as "
        "a .safetensors file for backbone.pretrained.")


def add_arguments(p):
    p.add_argument("--model", default="lgformer-compact",
                   help="registry model whose backbone config and input size to use (default lgformer-compact)")
    p.add_argument("--data-root", required=True, help="folder holding <dataset>/instances.json and refs")
    p.add_argument("--dataset", default="synthref")
    p.add_argument("--split-by", default="unc")
    p.add_argument("--split", default="train")
    p.add_argument("--limit", type=int, help="use only the first N images of the split")
    p.add_argument("--steps", type=int, default=2400, help="default 2400 (the shipped Swin)")
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads on the CPU")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--out", required=True, metavar="FILE.safetensors")


def run(args):
    import sys
    import time
    from pathlib import Path

    import torch

    from ..cli import UserError
    from ..data.refer import DatasetError
    from ..fileio import WriteError
    from ..predictor import PredictorError, pick_device
    from ..registry import get_config
    from ..training.engine import hardware
    from ..training.pretrain import (
        AttributeSegmenter,
        PretrainParams,
        load_attribute_data,
        pretrain,
        save_swin,
    )

    if not args.out.endswith(".safetensors"):
        raise UserError("--out must end in .safetensors")
    if args.steps < 1 or args.batch_size < 1:
        raise UserError("--steps and --batch-size must be at least 1")
    try:
        cfg = get_config(args.model)
    except KeyError as e:
        raise UserError(str(e.args[0])) from None
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except PredictorError as e:
        raise UserError(str(e)) from None
    torch.manual_seed(args.seed)
    start = time.perf_counter()

    def progress(done, total):
        if done % 500 == 0 or done == total:
            print(f"\rloaded {done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        data = load_attribute_data(args.data_root, args.dataset, args.split_by, args.split,
                                   cfg.input.image_size, limit=args.limit, progress=progress)
    except DatasetError as e:
        raise UserError(str(e)) from None
    model = AttributeSegmenter(cfg.backbone, cfg.input.image_size).to(device)
    params = PretrainParams(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    try:
        figures = pretrain(model, data, params, log=lambda m: print(m, flush=True), device=device)
    except FloatingPointError as e:
        raise UserError(f"{e}; nothing written (try a lower --lr)") from None
    meta = {"task": "SynthRef dense attribute segmentation (shape, color, texture, size)",
            "data": f"{args.data_root}/{args.dataset} {args.split_by} {args.split}",
            "images": int(data.images.shape[0]), "steps": args.steps, "batch_size": args.batch_size,
            "lr": args.lr, "seed": args.seed, "hardware": hardware(),
            "wall_time_s": round(time.perf_counter() - start, 1), "final": figures}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    try:
        save_swin(args.out, model, meta)
    except WriteError as e:
        raise UserError(str(e)) from None
    print(f"wrote {args.out} ({meta['wall_time_s'] / 60:.1f} min on {meta['hardware']}); use it with "
          f"--set model.backbone.pretrained={args.out}")
    return 0
