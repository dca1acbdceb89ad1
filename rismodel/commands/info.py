HELP = "Describe a model: architecture, parameter counts per component, training provenance."


def add_arguments(p):
    p.add_argument("model", metavar="NAME_OR_CHECKPOINT")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    from ..cli import json_text
    from ..predictor import Predictor

    # A bad checkpoint or text encoder raises the package's own errors: one line from rismodel.cli.
    pred = Predictor.load(args.model, device="cpu", allow_random=True)
    info = pred.info()
    if args.json:
        print(json_text(info, indent=2, default=str))
        return 0
    print(f"model:         {info['name']}  ({info['architecture']})")
    print(f"weights:       {info['source']}")
    print(f"input:         {info['image_size']}x{info['image_size']}, text encoder {info['text_encoder']} "
          f"({info['max_tokens']} tokens)")
    print("parameters:")
    for k, v in info["parameters"].items():
        print(f"  {k:<22} {v / 1e6:9.3f} M")
    print(f"trained on:    {info['trained_on']}")
    for k, v in info["training"].items():
        if k != "trained_on":
            print(f"  {k}: {v}")
    return 0
