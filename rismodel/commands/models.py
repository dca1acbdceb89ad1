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
    if args.json:
        print(json.dumps([dict(r, config=to_dict(MODELS[r["name"]])) for r in rows], indent=2))
        return 0
    for r in rows:
        ship = "trained checkpoint shipped" if r["checkpoint"] else "no checkpoint (train or load weights)"
        print(f"{r['name']:<20} {r['architecture']:<10} {r['image_size']:>4}px  {ship}\n    {r['description']}")
    return 0
