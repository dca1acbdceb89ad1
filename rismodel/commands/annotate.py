"""``rismodel annotate``: masks for referring expressions over many images, written as COCO."""

HELP = ("Run each referring expression over each image and write COCO with expressions "
        "(RLE masks). Runs on several GPUs or CPU processes under torchrun.")


def add_arguments(p):
    from ..cli import probability

    p.add_argument("--model", required=True, metavar="NAME_OR_CHECKPOINT")
    p.add_argument("--images", required=True, nargs="+", metavar="DIR_OR_FILE",
                   help="image files and/or folders (searched recursively)")
    p.add_argument("--text", action="append", default=[], metavar="TEXT",
                   help="a referring expression; repeat for several (optional with --model "
                   "photo-coco, which then proposes each object with generated expressions)")
    p.add_argument("--out", required=True, metavar="COCO.json")
    p.add_argument("--threshold", type=probability, default=0.5, help="foreground probability threshold")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--label", metavar="NAME",
                   help="category name for every object (default: the expression itself)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true",
                   help="discard what a stopped run with this --out left (by default the same "
                   "command continues it, skipping the images already done)")


def run(args) -> int:
    import sys

    import torch

    from ..annotate import run as run_annotate
    from ..cli import UserError
    from ..predictor import Predictor

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("CUDA was requested but no CUDA device is available; use --device cpu")
    # Bad images are skipped and reported; the rest (model, output, journal) are the package's
    # own errors, printed as one line by rismodel.cli.
    report = run_annotate(lambda device: Predictor.load(args.model, device=device), args.images,
                          args.text, args.out, threshold=args.threshold, device=args.device,
                          label=args.label, progress=not args.quiet, restart=args.restart,
                          model_name=args.model)
    if report is not None:  # rank 0 (or the only process) wrote the file
        resumed = f" ({report.resumed} from the stopped run)" if report.resumed else ""
        print(f"wrote {args.out}: {report.images} image(s){resumed}, {report.masks} mask(s)")
        if report.empty:
            print(f"{len(report.empty)} expression/image pair(s) gave an empty mask and were not written",
                  file=sys.stderr)
        if report.skipped_images:
            print(f"{len(report.skipped_images)} image(s) skipped (unreadable or missing)", file=sys.stderr)
    return 0
