HELP = ("Latency (median, p90) and peak memory per expression at the model's working resolution, "
        "with CLIPSeg (random weights, 352x352) timed in the same run as the reference peer.")


def add_arguments(p):
    from ..cli import non_negative_int, positive_int

    p.add_argument("--model", required=True, metavar="NAME_OR_CHECKPOINT")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--threads", type=positive_int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--repeats", type=positive_int, default=20)
    p.add_argument("--warmup", type=non_negative_int, default=3)
    p.add_argument("--no-peer", action="store_true", help="skip the CLIPSeg reference")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    import torch

    from ..benchmark import benchmark_clipseg, benchmark_predictor
    from ..cli import json_text
    from ..predictor import Predictor

    torch.set_num_threads(args.threads)
    from ..registry import PHOTO_MODEL

    if args.model == PHOTO_MODEL:  # its own figures: real photos, detections and masks cached
        from ..photo.bench import print_photo_bench

        return print_photo_bench(args.threads, args.repeats, args.json)
    pred = Predictor.load(args.model, device=args.device, allow_random=True)
    result = {"model": args.model, "device": pred.device.type, "threads": args.threads,
              "ours": benchmark_predictor(pred, args.repeats, args.warmup)}
    if not args.no_peer:
        result["clipseg"] = benchmark_clipseg(pred.device, args.repeats, args.warmup)
        result["speedup_vs_clipseg"] = round(result["clipseg"]["median_ms"]
                                             / result["ours"]["per_expression"]["median_ms"], 2)
    if args.json:
        print(json_text(result))
        return 0
    o = result["ours"]
    print(f"{args.model} on {result['device']} ({args.threads} threads), input {o['image_size']}px")
    for key, label in (("per_expression", "per expression (image cached)"), ("full", "image + expression")):
        r = o[key]
        print(f"  {label:<32} median {r['median_ms']:7.1f} ms   p90 {r['p90_ms']:7.1f} ms")
    print(f"  peak memory                      {o['peak_memory_mb']:7.1f} MB ({o['memory_kind']})")
    if "clipseg" in result:
        c = result["clipseg"]
        print(f"CLIPSeg (random weights) 352px     median {c['median_ms']:7.1f} ms   p90 {c['p90_ms']:7.1f} ms"
              f"   peak {c['peak_memory_mb']:.1f} MB")
        print(f"per-expression speed-up vs CLIPSeg: x{result['speedup_vs_clipseg']}")
    return 0
