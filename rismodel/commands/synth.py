"""``rismodel synth``: write the procedural SynthRef dataset (refer + gRefCOCO formats)."""

from __future__ import annotations

import argparse
import sys
import time

HELP = "Generate the procedural referring dataset SynthRef (images, masks, expressions)."


def _size_range(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX in pixels, e.g. 160-640, got {text!r}") from None
    if not 32 <= lo <= hi <= 4096:
        raise argparse.ArgumentTypeError(f"need 32 <= MIN <= MAX <= 4096, got {lo}-{hi}")
    return lo, hi


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (gets images/ and synthref/)")
    parser.add_argument("--images", type=int, default=5000, help="number of images (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")
    parser.add_argument("--image-size-range", type=_size_range, default=(160, 640), metavar="MIN-MAX",
                        help="range of image side lengths in pixels (default 160-640)")
    v = parser.add_argument_group("rendering variation (defaults: the standard SynthRef look, byte for byte)")
    v.add_argument("--background", choices=["default", "flat", "cluttered", "textured", "mixed"], default="default",
                   help="background kind; mixed draws flat, cluttered or textured per image")
    v.add_argument("--noise", type=float, default=0.0, help="largest Gaussian pixel-noise std, 0-255 scale (0 = off)")
    v.add_argument("--blur", type=float, default=0.0, help="largest Gaussian blur radius in pixels (0 = off)")
    v.add_argument("--jpeg", type=int, default=0, help="lowest JPEG quality of a round trip, 5-95 (0 = off)")
    v.add_argument("--lighting", type=float, default=0.0,
                   help="0-1: brightness, contrast, a colour cast small enough to keep colour names, shading")
    v.add_argument("--rotation", type=float, default=0.2, help="largest shape rotation in radians (default 0.2)")
    v.add_argument("--aspect", type=float, default=1.0, help="largest stretch of a shape, 1-3 (1 = none)")
    v.add_argument("--min-visible", type=float, default=0.65,
                   help="share of each object kept visible; lower = more occlusion (default 0.65)")
    v.add_argument("--overspecify", action="store_true",
                   help="phrasing: add a true over-specified expression per object (\"the red star\" for the "
                        "only star) and drop \"the\" from half of those and of the no-target ones")
    v.add_argument("--diamond-long-axis", action="store_true",
                   help="stretch a diamond only along its long diagonal, so --aspect never turns it into a "
                        "square on its corner")
    v.add_argument("--hard-negatives", type=int, default=0, metavar="N",
                   help="phrasing: up to N more no-target expressions per image, 'the <colour> <shape>' for a "
                        "shape unique in the scene with another object's colour, 0-8 (default 0)")
    v.add_argument("--overspecify-own-ref", action="store_true",
                   help="with --overspecify: write each over-specified expression as a ref of its own, so "
                        "training draws it as often as a no-target expression")


def run(args: argparse.Namespace) -> int:
    from rismodel.cli import UserError
    from rismodel.data.synth import generate
    from rismodel.data.synth_variation import Variation
    from rismodel.fileio import WriteError

    if args.images < 3:
        raise UserError("--images must be at least 3 (train, val and test each get one)")
    if args.seed < 0:
        raise UserError("--seed must be >= 0")
    try:
        variation = Variation(background=args.background, noise=args.noise, blur=args.blur, jpeg=args.jpeg,
                              lighting=args.lighting, rotation=args.rotation, aspect=args.aspect,
                              min_visible=args.min_visible, overspecify=args.overspecify,
                              diamond_long_axis=args.diamond_long_axis, hard_negatives=args.hard_negatives,
                              overspecify_own_ref=args.overspecify_own_ref)
    except ValueError as e:
        raise UserError(f"rendering variation: {e}") from None
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 250 == 0 or done == total:
            print(f"\r{done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        stats = generate(args.out, args.images, seed=args.seed, size_range=args.image_size_range,
                         progress=progress, variation=variation)
    except WriteError as e:
        raise UserError(str(e)) from None
    print(f"wrote {stats.images} images ({', '.join(f'{k} {v}' for k, v in sorted(stats.splits.items()))}), "
          f"{stats.objects} objects, refs: {stats.single_refs} single-target, {stats.multi_refs} multi-target, "
          f"{stats.no_target_refs} no-target, in {time.perf_counter() - start:.1f} s")
    print("expression lengths (LGFormer Table 3 buckets):")
    print(stats.histogram())
    print(f"load with: load_dataset({args.out!r}, 'synthref', 'unc', 'train')")
    return 0
