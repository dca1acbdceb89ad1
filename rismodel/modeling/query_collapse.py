"""Query collapse of an LQMFormer checkpoint, measured as lqmformer.md Fig. 1 does (issue 9).

``python -m rismodel.modeling.query_collapse CHECKPOINT DATA_ROOT [--split test] [--refs 50]``
prints the mean pairwise cosine similarity of the final query masks (sigmoid, self pairs
excluded) over the first refs of a SynthRef-style dataset, and the share of pairs above 0.9.
1.0 / 100% is total collapse (every query predicts the same mask).
"""

from __future__ import annotations

import argparse
import sys

import torch

from .lqmformer_losses import query_collapse


def measure(predictor, samples, max_refs: int) -> dict[str, float]:
    """Mean of :func:`query_collapse` over the first sentence of up to ``max_refs`` refs."""
    inp = predictor.config.input
    from ..data.dataset import preprocess_image

    means, shares = [], []
    for s in samples[:max_refs]:
        x = preprocess_image(s.load_image(), inp.image_size, inp.mean, inp.std,
                             letterbox=inp.resize == "letterbox")[None].to(predictor.device)
        ids, mask = predictor.tokenize([s.sentences[0]])
        with torch.inference_mode():
            out = predictor.model(x, ids.to(predictor.device), mask.to(predictor.device))
        c = query_collapse(out["query_masks"])
        means.append(c["mean_cosine"])
        shares.append(c["share_above"])
    n = max(len(means), 1)
    return {"refs": len(means), "mean_cosine": sum(means) / n, "share_above_0.9": sum(shares) / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rismodel.modeling.query_collapse", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("data_root")
    ap.add_argument("--split", default="test")
    ap.add_argument("--refs", type=int, default=50)
    args = ap.parse_args(argv)
    from ..data.errors import DatasetError
    from ..data.refer import load_dataset
    from ..predictor import Predictor, PredictorError

    try:
        p = Predictor.load(args.checkpoint, device="cpu")
        if p.config.architecture != "lqmformer":
            print(f"error: {args.checkpoint} is not an LQMFormer (it has no queries)", file=sys.stderr)
            return 2
        samples = [s for s in load_dataset(args.data_root, "synthref", "unc", args.split, fmt="grefs")
                   if s.has_target]
        r = measure(p, samples, args.refs)
    except (PredictorError, DatasetError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"query collapse over {r['refs']} refs: mean pairwise cosine of query masks "
          f"{r['mean_cosine']:.3f}, pairs above 0.9: {100 * r['share_above_0.9']:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
