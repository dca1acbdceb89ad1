"""Timing helpers for ``rismodel bench`` (figures are printed, never asserted in tests)."""

from __future__ import annotations

import resource
import statistics
import time

import numpy as np
import torch


def _stats(times_ms: list[float]) -> dict:
    s = sorted(times_ms)
    return {"median_ms": round(statistics.median(s), 2), "p90_ms": round(s[min(len(s) - 1, int(0.9 * len(s)))], 2),
            "runs": len(s)}


def _peak_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20, "CUDA max allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS"


TEXTS = ["the large red circle on the left", "blue square", "the second triangle from the top",
         "the small striped green star below the yellow hexagon"]


def benchmark_predictor(pred, repeats: int, warmup: int) -> dict:
    size = pred.config.input.image_size
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    if pred.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    pred.set_image(image)
    per_expr, full = [], []
    for i in range(warmup + repeats):
        pred._text_cache.clear()  # every keystroke is a new expression
        t0 = time.perf_counter()
        pred.predict(TEXTS[i % len(TEXTS)])
        if pred.device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        pred._text_cache.clear()
        pred.set_image(image)
        pred.predict(TEXTS[i % len(TEXTS)])
        if pred.device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i >= warmup:
            per_expr.append((t1 - t0) * 1000)
            full.append((t2 - t1) * 1000)
    peak, kind = _peak_mb(pred.device)
    return {"image_size": size, "per_expression": _stats(per_expr), "full": _stats(full),
            "peak_memory_mb": round(peak, 1), "memory_kind": kind}


def benchmark_clipseg(device: torch.device, repeats: int, warmup: int) -> dict:
    """CLIPSeg in a fresh process, so that its peak memory is its own."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_clipseg_worker, (device.type, repeats, warmup, torch.get_num_threads()))


def _clipseg_worker(device_type: str, repeats: int, warmup: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    device = torch.device(device_type)
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    torch.manual_seed(0)
    model = CLIPSegForImageSegmentation(CLIPSegConfig()).to(device).eval()
    pixels = torch.randn(1, 3, 352, 352, device=device)
    ids = torch.randint(0, 49408, (1, 12), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            model(input_ids=ids, pixel_values=pixels)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
    peak, kind = _peak_mb(device)
    return dict(_stats(times), peak_memory_mb=round(peak, 1), memory_kind=kind)
