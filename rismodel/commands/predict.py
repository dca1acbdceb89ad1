HELP = "Segment what a referring expression describes in one image and write the mask as PNG."


def add_arguments(p):
    from ..cli import existing_file, probability

    p.add_argument("--model", required=True, metavar="NAME_OR_CHECKPOINT")
    p.add_argument("--image", required=True, type=existing_file)
    p.add_argument("--text", required=True)
    p.add_argument("--out", required=True, metavar="MASK.png")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--threshold", type=probability, default=0.5, help="in [0, 1] (default 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON line with size, score, device, latency")


def run(args) -> int:
    import io

    from PIL import Image

    from ..cli import json_text
    from ..fileio import atomic_write_bytes, resolve_target
    from ..predictor import Predictor

    # Errors (bad checkpoint, image, text, output path) are the package's own error types, which
    # rismodel.cli prints as one line. The output path is checked before the model runs.
    resolve_target(args.out)
    pred = Predictor.load(args.model, device=args.device)
    pred.set_image(args.image)
    res = pred.predict(args.text, threshold=args.threshold)
    buf = io.BytesIO()
    Image.fromarray(res.mask.astype("uint8") * 255).save(buf, format="PNG")
    atomic_write_bytes(args.out, buf.getvalue())
    h, w = res.mask.shape
    record = {"out": args.out, "width": w, "height": h, "mask_pixels": int(res.mask.sum()),
              "score": round(res.score, 4), "device": res.device, "latency_ms": round(res.latency_ms, 1),
              "truncated": res.truncated}
    if res.explanation:  # photo-coco says which object it chose and by which rule
        record["explanation"] = res.explanation
    if args.json:
        print(json_text(record))
    else:
        print(f"wrote {args.out}: {w}x{h}, {record['mask_pixels']} pixels, target score {res.score:.2f}, "
              f"{res.latency_ms:.0f} ms on {res.device}")
        if res.explanation:
            print(f"  {res.explanation}")
    return 0
