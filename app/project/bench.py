"""Scale benchmark of the project layer: ``python -m app.project.bench [--images 2000] [--anns 10]``.

Generates a synthetic project of ``--images`` photos of ``--width`` x ``--height`` (default 2,000
photos of 4000x3000 = 12 MP) with ``--anns`` annotations each (ellipses of varied size, encoded
straight to COCO RLE from their column runs, so nothing 12-megapixel is ever rasterised to build
it). The images are hard links to one real JPEG of that size: the project layer never decodes an
image to open (sizes come from the project file). Then, in a fresh process, it measures:

- open: ``Project.open`` of the folder (listing, reading and validating the whole file);
- browse: every mask of ``--browse`` images decoded, as drawing the current image does;
- save: the first full save of the project file, then the autosave after one edit (which
  re-encodes only the edited image's JSON);
- peak RSS of that process, and what decoded-mask storage for every annotation would need.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils


def ellipse_rle(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> dict:
    """Compressed RLE of a filled ellipse, from its column runs (column-major, as COCO)."""
    x0, x1 = max(0, int(np.ceil(cx - rx))), min(w, int(np.floor(cx + rx)) + 1)
    xs = np.arange(x0, x1)
    half = ry * np.sqrt(np.clip(1 - ((xs - cx) / rx) ** 2, 0, 1))
    y0 = np.clip(np.ceil(cy - half), 1, h - 1).astype(np.int64)  # a margin of one row: no merged runs
    y1 = np.clip(np.floor(cy + half) + 1, 1, h - 1).astype(np.int64)
    keep = y1 > y0
    xs, y0, y1 = xs[keep], y0[keep], y1[keep]
    marks = np.empty(2 * len(xs) + 2, np.int64)
    marks[0], marks[-1] = 0, h * w
    marks[1:-1:2] = xs * h + y0
    marks[2:-1:2] = xs * h + y1
    counts = np.diff(marks).tolist()
    rle = mask_utils.frPyObjects({"counts": counts, "size": [h, w]}, h, w)
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def generate(folder: Path, n_images: int, n_anns: int, w: int, h: int, seed: int = 0) -> dict:
    from PIL import Image

    from .model import PROJECT_FILE

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    src = folder / ".source.jpg"
    small = rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h)).save(src, quality=85)
    t0 = time.perf_counter()
    images, next_ann, cats = [], 1, {}
    for i in range(n_images):
        name = f"IMG_{i:05d}.jpg"
        try:
            os.link(src, folder / name)
        except OSError:
            os.symlink(src.name, folder / name)
        anns = []
        for j in range(n_anns):
            label = f"label{j % 5}"
            cats.setdefault(label, len(cats) + 1)
            ry, rx = rng.uniform(0.03, 0.3) * h, rng.uniform(0.03, 0.3) * w
            cy, cx = rng.uniform(ry, h - ry), rng.uniform(rx, w - rx)
            anns.append({"id": next_ann, "label": label, "expressions": [f"the {label} number {j}"],
                         "visible": True, "source": "manual", "review": "accepted", "score": None,
                         "rle": ellipse_rle(h, w, cy, cx, ry, rx)})
            next_ann += 1
        images.append({"id": i + 1, "file": name, "size": [w, h], "annotations": anns})
    doc = {"format": "ris-studio-project", "version": 2, "next_annotation_id": next_ann,
           "next_image_id": n_images + 1, "categories": cats, "label_colors": {}, "predefined_labels": [],
           "images": images}
    (folder / PROJECT_FILE).write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return {"generate_s": time.perf_counter() - t0, "file_mb": (folder / PROJECT_FILE).stat().st_size / 1e6}


def measure(folder: Path, browse: int) -> dict:
    """Run in a fresh process: open, browse, save; peak RSS."""
    from . import Project
    from . import rle as rlemod

    t0, c0 = time.perf_counter(), time.process_time()
    p = Project.open([folder])
    t_open, c_open = time.perf_counter() - t0, time.process_time() - c0
    rss_open = _rss_mb()
    peak_open = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keys = [e.key for e in p.images][:browse]
    t0, c0 = time.perf_counter(), time.process_time()
    pixels = 0
    for key in keys:
        for a in p.annotations(key):
            pixels += int(a.mask.sum())
    t_browse, c_browse = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    p.save(force=True)
    t_save, c_save = time.perf_counter() - t0, time.process_time() - c0
    a = p.annotations(p.images[-1].key)[0]
    t0, c0 = time.perf_counter(), time.process_time()
    p.set_field(p.images[-1].key, a.id, "visible", False)  # one edit: its autosave reuses the other images' JSON
    t_autosave, c_autosave = time.perf_counter() - t0, time.process_time() - c0
    n_anns = sum(p.count(e.key) for e in p.images)
    h, w = p.annotations(p.images[0].key)[0].shape
    return {"images": len(p.images), "annotations": n_anns, "open_s": t_open, "rss_after_open_mb": rss_open,
            "browse_images": len(keys), "browse_s": t_browse, "browse_ms_per_image": 1000 * t_browse / max(len(keys), 1),
            "save_s": t_save, "autosave_s": t_autosave, "cpu_open_s": c_open, "cpu_browse_s": c_browse,
            "cpu_save_s": c_save, "cpu_autosave_s": c_autosave, "peak_rss_open_mb": peak_open, "decoded_cache_mb": rlemod.CACHE.nbytes / 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "decoded_all_would_need_gb": n_anns * h * w / 1e9, "checksum_pixels": pixels}


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.project.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--anns", type=int, default=10, help="annotations per image")
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--browse", type=int, default=50, help="images whose masks are all decoded")
    ap.add_argument("--folder", help="work folder (default: a temporary one, removed after)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.browse)))
        return 0
    for name in ("images", "anns", "width", "height"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be at least 1", file=sys.stderr)
            return 2
    if args.browse < 0:
        print("error: --browse cannot be negative", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ris-project-bench-") as tmp:
        folder = Path(args.folder) if args.folder else Path(tmp) / "photos"
        gen = generate(folder, args.images, args.anns, args.width, args.height)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                              os.environ.get("PYTHONPATH", "")])}
        out = subprocess.run([sys.executable, "-m", "app.project.bench", "--measure", str(folder),
                              "--browse", str(args.browse)], capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            print(f"error: the measuring process failed:\n{out.stderr[-3000:]}", file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
    mp = args.width * args.height / 1e6
    print(f"project: {r['images']} images of {args.width}x{args.height} ({mp:.0f} MP), {r['annotations']} annotations; "
          f"project file {gen['file_mb']:.1f} MB (generated in {gen['generate_s']:.1f} s)")
    print(f"open:   {r['open_s']:.2f} s wall, {r['cpu_open_s']:.2f} s CPU (RSS after open {r['rss_after_open_mb']:.0f} MB, peak while opening "
          f"{r['peak_rss_open_mb']:.0f} MB)")
    print(f"browse: {r['browse_images']} images, every mask decoded: {r['browse_s']:.2f} s wall, "
          f"{r['cpu_browse_s']:.2f} s CPU "
          f"({r['browse_ms_per_image']:.0f} ms per image; decoded-mask cache {r['decoded_cache_mb']:.0f} MB)")
    print(f"save:   {r['save_s']:.2f} s wall, {r['cpu_save_s']:.2f} s CPU (first full save); autosave after one "
          f"edit {r['autosave_s']:.2f} s wall, {r['cpu_autosave_s']:.2f} s CPU")
    print(f"(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"peak RSS: {r['peak_rss_mb']:.0f} MB (decoded masks for every annotation would need "
          f"{r['decoded_all_would_need_gb']:.0f} GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
