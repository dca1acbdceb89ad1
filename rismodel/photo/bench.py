"""``rismodel bench --model photo-coco``: latency on the real-photo set's photos and expressions.

- first expression on a new image: ``set_image`` (the detector) + the first ``predict`` (parse,
  choose, the chosen object's mask);
- per expression, detections cached: ``predict`` with the chosen object's mask already computed
  (what typing costs while the choice stays on objects already shown); the word -> class cache
  is cleared before each, so words outside the synonym list run the text encoder every time;
- per expression, new object: ``predict`` whose chosen object has no mask yet (mask maker runs).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path


def _stats(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
            "n": len(ms)}


def realphoto_expressions() -> dict[Path, list[str]]:
    from ..resources import resources_dir

    coco = resources_dir() / "realphoto" / "realphoto.json"
    data = json.loads(coco.read_text())
    files = {im["id"]: coco.parent / im["file_name"] for im in data["images"]}
    out: dict[Path, list[str]] = {}
    for ann in data["annotations"]:
        out.setdefault(files[ann["image_id"]], []).extend(ann["expressions"])
    return out


def benchmark_photo(pred, repeats: int = 5) -> dict:
    from ..imageio import load_image

    first, cached, new_object, detect = [], [], [], []
    for path, texts in realphoto_expressions().items():
        image = load_image(path)
        t0 = time.perf_counter()
        pred.set_image(image)
        t1 = time.perf_counter()
        pred.predict(texts[0])
        t2 = time.perf_counter()
        detect.append((t1 - t0) * 1000)
        first.append((t2 - t0) * 1000)
        for text in texts[1:]:  # pass 1: masks of objects not chosen before are made here
            had = set(pred._masks)
            t = time.perf_counter()
            pred.predict(text)
            dt = (time.perf_counter() - t) * 1000
            (new_object if set(pred._masks) - had else cached).append(dt)
        for _ in range(repeats):  # typing again over the same image: every mask is cached
            for text in texts:
                pred.matcher._cache.clear()  # every keystroke is a new phrase: words re-matched
                t = time.perf_counter()
                pred.predict(text)
                cached.append((time.perf_counter() - t) * 1000)
    return {"photos": len(first), "detector": _stats(detect), "first_expression": _stats(first),
            "per_expression_cached": _stats(cached),
            "per_expression_new_object": _stats(new_object) if new_object else None}


def print_photo_bench(threads: int, repeats: int, as_json: bool) -> int:
    from ..cli import json_text
    from .engine import PhotoPredictor

    pred = PhotoPredictor(threads=threads)
    r = {"model": "photo-coco", "device": "cpu", "threads": threads, "mask_maker": pred.config.mask_maker,
         **benchmark_photo(pred, repeats)}
    if as_json:
        print(json_text(r))
        return 0
    print(f"photo-coco on cpu ({threads} threads), {r['photos']} photos of resources/realphoto, "
          f"{r['mask_maker']} masks")
    rows = (("per_expression_cached", "per expression (detections + masks cached)"),
            ("per_expression_new_object", "per expression, new object (mask made)"),
            ("detector", "detector (set_image)"),
            ("first_expression", "first expression on a new image"))
    for key, label in rows:
        s = r[key]
        if s:
            print(f"  {label:<44} median {s['median_ms']:8.1f} ms   p90 {s['p90_ms']:8.1f} ms   (n={s['n']})")
    print("  (no CLIPSeg peer here: it is timed for the compact models)")
    return 0
