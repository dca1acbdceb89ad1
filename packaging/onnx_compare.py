"""Measure what running the compact models with onnxruntime instead of torch would give the
installed app (docs/adr/0004-installer-inference-runtime.md). Prints figures; asserts nothing.

    python packaging/onnx_compare.py [--images 8] [--out /tmp/ris-onnx]

Each model is exported in the predictor's three parts (text encoder; image prefix; fusion and
decoders), run on synthetic SynthRef scenes with their expressions, and compared with torch:
largest probability difference, mask IoU against torch's mask (threshold 0.5), latency per new
expression with 1 and 2 threads. Needs onnx and onnxscript (not project dependencies).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


class _Text(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model.encode_text(input_ids, attention_mask)


class _Image(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model.image_prefix(images)


class _Head(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, attention_mask, prefix, text_feats):
        out = self.model(attention_mask=attention_mask, prefix=prefix, text_feats=text_feats)
        return out["pred_masks"][:, :1], out["presence_logits"]


def _fftfreq(n, d=1.0, *, device=None, dtype=None, **_):
    """torch.fft.fftfreq written with arange: the ONNX exporter has no conversion for fftfreq."""
    i = torch.arange(n, device=device)
    k = torch.where(i < (n + 1) // 2, i, i - n)
    return k.to(dtype or torch.get_default_dtype()) / (n * d)


def export(pred, out_dir: Path) -> dict[str, Path]:
    torch.fft.fftfreq, original = _fftfreq, torch.fft.fftfreq  # only while exporting
    try:
        return _export(pred, out_dir)
    finally:
        torch.fft.fftfreq = original


def _export(pred, out_dir: Path) -> dict[str, Path]:
    from rismodel.data.dataset import preprocess_image

    model = pred.model.eval()
    size = pred.config.input.image_size
    x = preprocess_image(np.zeros((size, size, 3), np.uint8), size, pred.config.input.mean,
                         pred.config.input.std).unsqueeze(0)
    ids, mask = pred.tokenize(["the red circle"])
    with torch.inference_mode():
        feats = model.encode_text(ids, mask)
        prefix = model.image_prefix(x)
    paths = {}
    for part, module, args, names in (
            ("text", _Text(model), (ids, mask), (["input_ids", "attention_mask"], ["text_feats"])),
            ("image", _Image(model), (x,), (["images"], ["prefix"])),
            ("head", _Head(model), (mask, prefix, feats),
             (["attention_mask", "prefix", "text_feats"], ["pred_masks", "presence_logits"]))):
        path = out_dir / f"{pred.name}-{part}.onnx"
        torch.onnx.export(module.eval(), args, str(path), input_names=names[0], output_names=names[1],
                          dynamo=True, optimize=True, opset_version=18, external_data=False)
        paths[part] = path
    return paths


def main() -> None:
    import onnxruntime as ort

    from rismodel.data.dataset import preprocess_image
    from rismodel.data.synth import generate_image
    from rismodel.predictor import Predictor

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--models", nargs="+", default=["lgformer-compact", "lqmformer-compact"])
    ap.add_argument("--out", type=Path, default=Path("/tmp/ris-onnx"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    scenes = [generate_image(1234, i, (200, 400)) for i in range(args.images)]
    for name in args.models:
        pred = Predictor.load(name, device="cpu")
        t0 = time.perf_counter()
        try:
            paths = export(pred, args.out)
        except Exception as e:  # noqa: BLE001  (a measurement script reports what failed)
            print(f"{name}: export failed: {type(e).__name__}: {str(e)[-1500:]}")
            continue
        size_mb = sum(p.stat().st_size for p in paths.values()) / 2**20
        print(f"{name}: exported in {time.perf_counter() - t0:.0f} s, {size_mb:.1f} MB ONNX")
        inp = pred.config.input
        for threads in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            sess = {k: ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
            torch.set_num_threads(threads)
            max_diff, ious, t_ort, t_torch = 0.0, [], [], []
            for item in scenes:
                image = item["scene"].image
                x = preprocess_image(image, inp.image_size, inp.mean, inp.std).unsqueeze(0)
                prefix = sess["image"].run(None, {"images": x.numpy()})[0]
                pred.set_image(image)
                for group in item["singles"]:
                    text = group[0]
                    ids, mask = pred.tokenize([text])
                    t = time.perf_counter()
                    feats = sess["text"].run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
                    logits, presence = sess["head"].run(None, {"attention_mask": mask.numpy(), "prefix": prefix,
                                                              "text_feats": feats})
                    t_ort.append(time.perf_counter() - t)
                    pred._text_cache.clear()
                    ref = pred.predict(text)
                    t_torch.append(ref.latency_ms / 1000)
                    prob = torch.sigmoid(torch.nn.functional.interpolate(
                        torch.from_numpy(logits).float(), size=image.shape[:2], mode="bilinear",
                        align_corners=False))[0, 0].numpy()
                    max_diff = max(max_diff, float(np.abs(prob - ref.prob).max()))
                    m = prob >= 0.5
                    if name.startswith("lqmformer") and 1 / (1 + np.exp(-float(presence.ravel()[0]))) < 0.5:
                        m = np.zeros_like(m)
                    union = (m | ref.mask).sum()
                    ious.append(1.0 if union == 0 else (m & ref.mask).sum() / union)
            print(f"{name} threads={threads}: {len(ious)} expressions on {len(scenes)} synthetic images; "
                  f"max |p_onnx - p_torch| {max_diff:.2e}; mask IoU vs torch min {min(ious):.4f} "
                  f"mean {np.mean(ious):.4f}; per expression median onnxruntime "
                  f"{statistics.median(t_ort) * 1000:.1f} ms, torch {statistics.median(t_torch) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
