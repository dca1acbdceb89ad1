"""``rismodel eval``: metrics of a model or a trivial baseline on a referring dataset split."""

HELP = ("Evaluate a model (or a trivial baseline) on a RefCOCO-style or gRefCOCO split, or on a "
        "COCO file with expressions: oIoU, mIoU, Prec@X (or cIoU, gIoU, N-acc, T-acc).")


def add_arguments(p):
    from ..cli import existing_file, non_negative_int, positive_int, probability

    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", metavar="NAME_OR_CHECKPOINT")
    who.add_argument("--baseline", choices=["whole-image", "largest-object"],
                     help="a trivial baseline instead of a model")
    p.add_argument("--data-root", metavar="DIR", help="folder holding <dataset>/instances.json and refs")
    p.add_argument("--dataset", metavar="NAME", help="refcoco, refcoco+, refcocog, refclef, grefcoco, ...")
    p.add_argument("--split-by", default="unc", metavar="NAME", help="unc, google, umd, berkeley (default unc)")
    p.add_argument("--split", metavar="NAME", help="val, test, testA, testB, ... (required with --dataset)")
    p.add_argument("--coco", metavar="FILE", type=existing_file, help="evaluate on a COCO file with expressions instead")
    p.add_argument("--images", metavar="DIR", help="image folder (default: the dataset's usual place)")
    p.add_argument("--allow-outside-images", action="store_true",
                   help="follow absolute and ../ image names that leave the image folder (refused "
                   "by default: a dataset file must not make the program read elsewhere)")
    p.add_argument("--generalised", action="store_true",
                   help="read grefs(<split-by>).json and report gRefCOCO's metrics (automatic when "
                        "the dataset has that file and no refs(<split-by>).p)")
    p.add_argument("--resolution", choices=["input", "original"], default="input",
                   help="input: compare at the model's input size, ground truth resized with "
                        "nearest (the papers' protocol, default); original: at the image's size")
    p.add_argument("--image-size", type=positive_int, metavar="S",
                   help="input size for baselines (models use their own; default 480)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--threshold", type=probability, default=0.5, help="foreground probability threshold")
    p.add_argument("--limit", type=positive_int, metavar="N", help="evaluate only the first N expressions")
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="B")
    p.add_argument("--workers", type=non_negative_int, metavar="N",
                   help="image-loading processes (default: 4 on CUDA, 0 on CPU)")
    p.add_argument("--json", metavar="OUT", help="also write the metrics as JSON")
    p.add_argument("--per-expression", action="store_true",
                   help="with --json: also write each expression's pixel counts (for paired "
                        "comparisons of two models, scripts/paired_gap.py)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _samples(args):
    from pathlib import Path

    from ..cli import UserError
    from ..data.coco_refs import load_coco_refs
    from ..data.refer import load_dataset

    if args.coco:
        if args.data_root or args.dataset:
            raise UserError("give either --coco or --data-root/--dataset, not both")
        samples = load_coco_refs(args.coco, args.images, split=args.split,
                                 allow_outside=args.allow_outside_images)
        generalised = args.generalised or any(not s.has_target for s in samples)
        return samples, generalised, {"coco": args.coco, "split": args.split}
    if not (args.data_root and args.dataset and args.split):
        raise UserError("say what to evaluate on: --data-root, --dataset and --split (or --coco FILE)")
    folder = Path(args.data_root) / args.dataset
    # Same choice as load_dataset(fmt="auto"): the refer pickle when present, else gRefCOCO's file.
    generalised = args.generalised or (not (folder / f"refs({args.split_by}).p").is_file()
                                       and (folder / f"grefs({args.split_by}).json").is_file())
    samples = load_dataset(args.data_root, args.dataset, args.split_by, args.split, args.images,
                           fmt="grefs" if generalised else "auto", allow_outside=args.allow_outside_images)
    return samples, generalised, {"data_root": args.data_root, "dataset": args.dataset,
                                  "split_by": args.split_by, "split": args.split}


def _segmenter(args, generalised):
    """-> (segmenter, image_size, mean, std, description dict)."""
    from pathlib import Path

    from ..cli import UserError
    from ..evaluation.baselines import LargestObject, WholeImage
    from ..evaluation.evaluate import IMAGENET_MEAN, IMAGENET_STD, ModelSegmenter

    if args.baseline:
        if args.baseline == "whole-image":
            seg = WholeImage()
        else:
            inst = Path(args.coco) if args.coco else Path(args.data_root) / args.dataset / "instances.json"
            seg = LargestObject.from_instances(inst)
        size = 480 if args.image_size is None else args.image_size
        return seg, size, IMAGENET_MEAN, IMAGENET_STD, {"baseline": args.baseline,
                                                                    "device": "cpu"}
    from ..predictor import Predictor
    from ..registry import PHOTO_MODEL

    pred = Predictor.load(args.model, device=args.device)
    if args.model == PHOTO_MODEL:  # needs the photos themselves, not the evaluator's tensors
        from ..photo.evaluate import PhotoSegmenter

        size = args.image_size or pred.config.input.image_size
        return PhotoSegmenter(pred, use_presence=generalised), size, IMAGENET_MEAN, IMAGENET_STD, \
            {"model": args.model, "source": pred.source, "device": "cpu"}
    inp = pred.config.input
    if args.image_size is not None and args.image_size != inp.image_size:
        raise UserError("--image-size is for baselines; a model uses its own input size "
                        f"({inp.image_size})")
    seg = ModelSegmenter(pred, threshold=args.threshold, use_presence=generalised)
    return seg, inp.image_size, inp.mean, inp.std, {"model": args.model, "source": pred.source,
                                                    "device": pred.device.type}


def run(args) -> int:
    import time

    from ..cli import UserError
    from ..evaluation.evaluate import EvalError, count_expressions, evaluate
    from ..evaluation.metrics import markdown_table
    from ..fileio import atomic_write_json, resolve_target

    # Dataset, checkpoint and write errors are the package's own types: rismodel.cli prints them.
    if args.per_expression and not args.json:
        raise UserError("--per-expression needs --json OUT (the counts go into that file)")
    if args.json:
        resolve_target(args.json)  # a folder or a device as --json fails now, not after the run
    samples, generalised, where = _samples(args)
    seg, size, mean, std, who = _segmenter(args, generalised)
    workers = args.workers if args.workers is not None else (4 if who["device"] == "cuda" else 0)
    records = [] if args.per_expression else None
    t0 = time.perf_counter()
    try:
        metrics = evaluate(samples, seg, generalised=generalised, resolution=args.resolution,
                           image_size=size, mean=mean, std=std, batch_size=args.batch_size,
                           limit=args.limit, workers=workers, progress=not args.quiet,
                           records=records)
    except EvalError as e:
        raise UserError(f"{where.get('coco') or where.get('dataset')}: {e}") from e
    seconds = time.perf_counter() - t0
    name = who.get("model") or who["baseline"]
    split = where.get("split") or "all"
    title = f"{name} on {where.get('dataset') or where.get('coco')} {split} " \
            f"({args.resolution} resolution{', ' + str(size) + 'x' + str(size) if args.resolution == 'input' else ''})"
    print(markdown_table(metrics, title=title), end="")
    if args.json:
        record = {**who, **where, "resolution": args.resolution, "image_size": size,
                  "threshold": args.threshold, "generalised": generalised,
                  "expressions": count_expressions(samples, args.limit), "seconds": round(seconds, 2),
                  "metrics": metrics}
        if records is not None:
            record["per_expression"] = records
        atomic_write_json(args.json, record, indent=2)
    return 0
