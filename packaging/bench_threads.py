"""Per-expression CPU latency of the compact models with 1 and 2 torch threads, on the machine as
it is ("quiet") and with a CPU hog on every core ("busy"): how the app's thread setting was chosen
(docs/adr/0004-installer-inference-runtime.md). Prints figures; asserts nothing.

    python packaging/bench_threads.py [--repeats 12]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time

PHRASES = ["the large spotted green heart", "the black circle", "the red star below the heart", "circle",
           "the medium-sized checkered black triangle", "the small dotted red star", "the green shape",
           "the triangle left of the circle", "the big heart", "the star", "a black triangle", "the shape"]


def _hog(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x = (x * 31 + 7) % 1000003


def measure(name: str, threads: int, repeats: int) -> tuple[float, float]:
    import torch

    from rismodel.predictor import Predictor
    from rismodel.resources import resources_dir

    torch.set_num_threads(threads)
    pred = Predictor.load(name, device="cpu")
    image = resources_dir() / "demo" / "synth_scene_4.jpg"
    pred.set_image(image)
    t0 = time.perf_counter()
    pred.set_image(image)
    prefix_ms = (time.perf_counter() - t0) * 1000
    lat = [pred.predict(p).latency_ms for p in PHRASES[:repeats]]  # distinct phrases: no text cache hits
    return statistics.median(lat), prefix_ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=12)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores; median ms per new expression (text + fusion + decoder), image prefix ms")
    for load in ("quiet", "busy"):
        stop = mp.Event()
        hogs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(cores if load == "busy" else 0)]
        for h in hogs:
            h.start()
        try:
            for name in ("lgformer-compact", "lqmformer-compact"):
                for threads in (1, 2):
                    expr, prefix = measure(name, threads, args.repeats)
                    print(f"{load:5s} {name:18s} threads={threads}: expression {expr:8.1f} ms, image {prefix:8.1f} ms",
                          flush=True)
        finally:
            stop.set()
            for h in hogs:
                h.join()


if __name__ == "__main__":
    main()
