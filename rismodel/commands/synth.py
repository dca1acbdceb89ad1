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


def run(args: argparse.Namespace) -> int:
    from rismodel.cli import UserError
    from rismodel.data.synth import generate
    from rismodel.fileio import WriteError

    if args.images < 3:
        raise UserError("--images must be at least 3 (train, val and test each get one)")
    if args.seed < 0:
        raise UserError("--seed must be >= 0")
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 250 == 0 or done == total:
            print(f"\r{done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        stats = generate(args.out, args.images, seed=args.seed, size_range=args.image_size_range,
                         progress=progress)
    except WriteError as e:
        raise UserError(str(e)) from None
    print(f"wrote {stats.images} images ({', '.join(f'{k} {v}' for k, v in sorted(stats.splits.items()))}), "
          f"{stats.objects} objects, refs: {stats.single_refs} single-target, {stats.multi_refs} multi-target, "
          f"{stats.no_target_refs} no-target, in {time.perf_counter() - start:.1f} s")
    print("expression lengths (LGFormer Table 3 buckets):")
    print(stats.histogram())
    print(f"load with: load_dataset({args.out!r}, 'synthref', 'unc', 'train')")
    return 0
