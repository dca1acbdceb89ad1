"""Fault soak: kill -9 at random moments and fill the disk, then check that nothing was lost.

    python scripts/soak.py train --kills 20          # training checkpoints (tiny random model)
    python scripts/soak.py annotate --kills 20       # rismodel annotate over a folder
    python scripts/soak.py scale --images 100 1000   # annotate's peak RSS against folder size
    python scripts/soak.py autosave --kills 20       # the app's project autosave (scripts/soak_autosave.py)

Each kind prints its figures (kills tried, files checked, states compared, failures) and exits
non-zero on any failure. The full-disk part mounts a small tmpfs when run as root where mounting
is allowed, and says so when it cannot (the test suite simulates ENOSPC instead). Quick versions of
the same checks run in the test suite (tests/training/test_training_faults.py, tests/test_annotate.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "tests" / "training" / "run_tiny_training.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))


class Tally:
    def __init__(self, kind: str):
        self.kind, self.figures, self.failures = kind, {}, []

    def add(self, key: str, n: int = 1) -> None:
        self.figures[key] = self.figures.get(key, 0) + n

    def check(self, ok: bool, what: str) -> None:
        self.add("checks")
        if not ok:
            self.failures.append(what)
            print(f"FAIL: {what}", flush=True)

    def report(self) -> int:
        print(f"\n{self.kind} soak:")
        for k, v in self.figures.items():
            print(f"  {k:<28} {v}")
        print(f"  {'failures':<28} {len(self.failures)}")
        return 1 if self.failures else 0


@contextlib.contextmanager
def small_disk(size: str):
    """A tmpfs of ``size`` (yields its path and a function to enlarge it), or None if we cannot."""
    path = Path(tempfile.mkdtemp(prefix="soak-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, check=False).returncode == 0
    try:
        if not mounted:
            yield None, None
        else:
            def grow(new_size: str) -> None:
                subprocess.run(["mount", "-o", f"remount,size={new_size}", str(path)], check=True)

            yield path, grow
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


# ----- training ------------------------------------------------------------------------------

def _trainer(out: Path, steps: int, resume: bool) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(TRAINER), str(out), str(steps)] + (["resume"] if resume else []),
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _check_run_folder(out: Path, t: Tally) -> int:
    """latest.json names a complete, loadable pair; returns its step (0 when none yet)."""
    from rismodel.checkpoint import load_state
    from rismodel.training.state import StateError, load_train_state, read_latest

    try:
        latest = read_latest(out)
        if latest is None:
            return 0
        state = load_train_state(latest["state"])
        load_state(latest["weights"])
        t.add("files checked", 3)
        t.check(state["step"] == latest["step"], f"{out}: state step {state['step']} != {latest['step']}")
        return latest["step"]
    except (StateError, ValueError, OSError) as e:
        t.check(False, f"{out}: unreadable after a kill: {e}")
        return -1


def _compare_runs(a: Path, b: Path, steps: int, t: Tally) -> None:
    import torch

    from rismodel.checkpoint import load_state
    from rismodel.training.state import load_train_state, read_latest

    wa, wb = load_state(a / "model.safetensors"), load_state(b / "model.safetensors")
    same = set(wa) == set(wb) and all(torch.equal(wa[k], wb[k]) for k in wa)
    t.add("weight tensors compared", len(wb))
    t.check(same, "final weights differ from the uninterrupted run")
    sa, sb = load_train_state(read_latest(a)["state"]), load_train_state(read_latest(b)["state"])
    for key in ("step", "epoch", "batch_in_epoch", "samples_seen", "total_steps"):
        t.check(sa[key] == sb[key], f"state {key}: {sa[key]} != {sb[key]}")
    opt_a, opt_b = sa["optimizer"]["state"], sb["optimizer"]["state"]
    opt_same = opt_a.keys() == opt_b.keys() and all(
        torch.equal(opt_a[i][k], opt_b[i][k]) if torch.is_tensor(opt_a[i][k]) else opt_a[i][k] == opt_b[i][k]
        for i in opt_a for k in opt_a[i])
    t.check(opt_same, "optimizer state differs from the uninterrupted run")
    t.check(torch.equal(sa["rng"][0]["torch"], sb["rng"][0]["torch"]), "torch RNG state differs")
    t.add("states compared")
    logged = [json.loads(x)["step"] for x in (a / "metrics.jsonl").read_text().splitlines()]
    t.check(logged == list(range(1, steps + 1)), "metrics.jsonl does not hold each step once")


def _wait_for_progress(out: Path, p: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the run logs a step it had not logged when this call began."""
    _wait_for_lines(out / "metrics.jsonl", p, timeout)


def _wait_for_lines(log: Path, p: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until ``log`` has a line more than when this call began (or the process ends)."""
    def lines() -> int:
        return log.read_bytes().count(b"\n") if log.exists() else 0

    start, deadline = lines(), time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < deadline and lines() <= start:
        time.sleep(0.02)


def soak_train(args) -> int:
    t = Tally("train")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="soak-train-"))
    steps = args.steps
    try:
        straight = work / "straight"
        p = _trainer(straight, steps, False)
        _, err = p.communicate()
        if p.returncode != 0:
            print(err.decode()[-3000:])
            return 1
        out = work / "killed"
        resume = False
        while t.figures.get("kills", 0) < args.kills:
            p = _trainer(out, steps, resume)
            if rng.random() < 0.25:  # during start-up, often before the first checkpoint
                time.sleep(rng.uniform(0.2, args.max_delay))
            else:  # once training runs: mid-step, mid-checkpoint or mid-log-line
                _wait_for_progress(out, p)
                time.sleep(rng.uniform(0.0, 0.6))
            if p.poll() is not None:  # finished before the kill: start a new run
                t.add("runs that finished before the kill")
                t.check(p.returncode == 0, f"a run ended with {p.returncode}: {p.stderr.read().decode()[-500:]}")
                shutil.rmtree(out)
                resume = False
                continue
            p.kill()
            p.wait()
            t.add("kills")
            t.add("temp files left by kills (removed by the next run)", len(list(out.rglob("*.tmp"))))
            step = _check_run_folder(out, t)
            t.add("kills before the first checkpoint" if step == 0 else "kills after a checkpoint")
            resume = True
        p = _trainer(out, steps, resume)
        _, err = p.communicate()
        t.check(p.returncode == 0, f"the resumed run failed: {err.decode()[-1000:]}")
        if p.returncode == 0:
            _compare_runs(out, straight, steps, t)
        leftovers = list(out.rglob("*.tmp"))
        t.add("temp files left at the end", len(leftovers))
        t.check(len(leftovers) == 0, f"temp files left: {leftovers}")
        _soak_train_full_disk(steps, straight, t)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t.report()


def _soak_train_full_disk(steps: int, straight: Path, t: Tally) -> None:
    with small_disk("48k") as (disk, grow):
        if disk is None:
            print("full disk: cannot mount a tmpfs here (needs root); covered by the test suite's "
                  "simulated ENOSPC instead")
            t.add("full-disk runs skipped (no tmpfs)")
            return
        out = disk / "run"
        p = _trainer(out, steps, False)
        _, err = p.communicate()
        msg = err.decode()
        t.add("full-disk runs")
        t.check(p.returncode != 0, "training on a 48 KB disk did not stop")
        t.check("no space left on the disk" in msg, f"the full disk was not named: {msg[-500:]}")
        t.check("Last good checkpoint" in msg, "the last good checkpoint was not named")
        last = msg.strip().splitlines()[-1] if msg.strip() else ""
        print(f"full disk, as the user sees it: {last[-300:]}")
        step = _check_run_folder(out, t)
        t.add("full-disk: last good step", step)
        grow("20m")  # space freed
        p = _trainer(out, steps, True)
        _, err = p.communicate()
        t.check(p.returncode == 0, f"resume after freeing space failed: {err.decode()[-800:]}")
        if p.returncode == 0:
            _compare_runs(out, straight, steps, t)


# ----- annotate ------------------------------------------------------------------------------

ANNOTATOR = """
import sys, time
sys.path.insert(0, {tests!r})
import test_annotate
from rismodel import cli

class Slow(test_annotate.FakePredictor):
    def set_image(self, image):
        time.sleep({delay})
        super().set_image(image)

import rismodel.predictor
rismodel.predictor.Predictor.load = lambda *a, **k: Slow()
sys.exit(cli.main({args!r}))
"""


def _annotator(pics: Path, out: Path, delay: float = 0.02) -> subprocess.Popen:
    argv = ["annotate", "--model", "fake", "--images", str(pics), "--text", "left half", "--text",
            "bright pixels", "--out", str(out), "--quiet"]
    code = ANNOTATOR.format(tests=str(ROOT / "tests"), delay=delay, args=argv)
    return subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _pictures(folder: Path, n: int, size=(48, 64)) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"img{i:05d}.png")


def soak_annotate(args) -> int:
    t = Tally("annotate")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="soak-annotate-"))
    try:
        pics = work / "pics"
        _pictures(pics, args.images)
        straight = work / "straight.json"
        p = _annotator(pics, straight)
        _, err = p.communicate()
        if p.returncode != 0:
            print(err.decode()[-3000:])
            return 1
        expected = json.loads(straight.read_text())
        out = work / "out" / "coco.json"
        out.parent.mkdir()
        old = '{"previous": "good file"}'
        out.write_text(old)
        while t.figures.get("kills", 0) < args.kills:
            p = _annotator(pics, out)
            journal = out.with_name(f".{out.name}.partial.jsonl")
            if rng.random() < 0.25:  # during start-up (model load, folder scan)
                time.sleep(rng.uniform(0.2, args.max_delay))
            else:  # mid-image or mid-journal-line
                _wait_for_lines(journal, p)
                time.sleep(rng.uniform(0.0, 0.3))
            if p.poll() is not None:
                t.add("runs that finished before the kill")
                t.check(p.returncode == 0, f"a run ended with {p.returncode}")
                t.check(json.loads(out.read_text()) == expected, "a finished run differs")
                out.write_text(old)
                continue
            p.kill()
            p.wait()
            t.add("kills")
            done = max(0, journal.read_bytes().count(b"\n") - 1) if journal.exists() else 0
            t.add("kills with images in the journal" if done else "kills before the first image")
            t.add("files checked")
            t.check(out.read_text() == old, "the previous output was changed by a killed run")
        p = _annotator(pics, out)
        _, err = p.communicate()
        t.check(p.returncode == 0, f"the resumed run failed: {err.decode()[-800:]}")
        t.add("files checked")
        t.check(p.returncode == 0 and json.loads(out.read_text()) == expected,
                "the resumed output differs from an uninterrupted run")
        t.add("outputs compared")
        t.check(not list(out.parent.glob(".*")), f"leftovers: {list(out.parent.glob('.*'))}")
        _soak_annotate_full_disk(pics, expected, t)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t.report()


def _soak_annotate_full_disk(pics: Path, expected: dict, t: Tally) -> None:
    with small_disk("16k") as (disk, grow):
        if disk is None:
            print("full disk: cannot mount a tmpfs here (needs root); covered by the test suite's "
                  "simulated ENOSPC instead")
            t.add("full-disk runs skipped (no tmpfs)")
            return
        out = disk / "coco.json"
        p = _annotator(pics, out, delay=0)
        _, err = p.communicate()
        msg = err.decode()
        t.add("full-disk runs")
        t.check(p.returncode == 2, f"annotate on a 16 KB disk did not stop cleanly ({p.returncode})")
        t.check("no space left on the disk" in msg and "Traceback" not in msg, f"unclear: {msg[-500:]}")
        print(f"full disk, as the user sees it: {msg.strip().splitlines()[-1][-300:] if msg.strip() else ''}")
        grow("50m")
        p = _annotator(pics, out, delay=0)
        _, err = p.communicate()
        t.check(p.returncode == 0 and json.loads(out.read_text()) == expected,
                f"the rerun after freeing space differs or failed: {err.decode()[-500:]}")
        t.add("outputs compared")


# ----- scale -----------------------------------------------------------------------------------

SCALER = """
import resource, sys, time
from rismodel import cli
t0 = time.perf_counter()
rc = cli.main({args!r})
print("RESULT", rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, round(time.perf_counter() - t0, 1))
"""


def soak_scale(args) -> int:
    """Peak RSS of ``rismodel annotate`` (tiny random-weight LGFormer, real predictor) per folder size."""
    import torch

    from rismodel.checkpoint import save_checkpoint
    from rismodel.config import with_overrides
    from rismodel.registry import build_model, get_config

    work = Path(tempfile.mkdtemp(prefix="soak-scale-"))
    rows = []
    try:
        torch.manual_seed(0)
        cfg = with_overrides(get_config("lgformer-compact"),
                             {"backbone.depths": [1, 1, 1, 1], "decoder_layers": 1, "pixel_decoder.num_layers": 1})
        ckpt = work / "tiny.safetensors"
        save_checkpoint(ckpt, build_model(cfg), cfg, {"trained_on": "nothing (soak)"})
        h, w = args.size
        for n in args.images:
            pics = work / f"pics{n}"
            _pictures(pics, n, size=(h, w))
            out = work / f"coco{n}.json"
            argv = ["annotate", "--model", str(ckpt), "--images", str(pics), "--text", "the thing on the left",
                    "--threshold", "0.5", "--device", "cpu", "--out", str(out), "--quiet"]
            proc = subprocess.run([sys.executable, "-c", SCALER.format(args=argv)], env=ENV,
                                  capture_output=True, text=True, check=False)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
            if proc.returncode != 0 or not line:
                print(proc.stderr[-2000:])
                return 1
            _, _rc, rss_kb, secs = line[0].split()
            data = json.loads(out.read_text())
            rows.append((n, int(rss_kb) / 1024, float(secs), len(data["annotations"]), out.stat().st_size / 1e6))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nannotate scale ({args.size[1]}x{args.size[0]} images, 1 expression, tiny random LGFormer, CPU):")
    print("| images | peak RSS (MB) | wall (s) | masks written | output (MB) |")
    print("|---:|---:|---:|---:|---:|")
    for n, rss, secs, masks, mb in rows:
        print(f"| {n} | {rss:.0f} | {secs:.1f} | {masks} | {mb:.2f} |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("train", help="kill -9 during training checkpoints, and a full disk")
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--max-delay", type=float, default=6.0, help="longest wait before an early kill (s)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("annotate", help="kill -9 during rismodel annotate, and a full disk")
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--max-delay", type=float, default=6.0)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("scale", help="peak RSS of rismodel annotate against the number of images")
    p.add_argument("--images", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--size", type=int, nargs=2, default=[48, 64], metavar=("H", "W"))
    try:
        import soak_autosave  # helper C's project-autosave soak, when present
    except ImportError:
        soak_autosave = None
    if soak_autosave is not None:
        p = sub.add_parser("autosave", help=soak_autosave.HELP)
        soak_autosave.add_arguments(p)
    args = parser.parse_args(argv)
    if args.kind == "autosave":
        return soak_autosave.run(args)
    return {"train": soak_train, "annotate": soak_annotate, "scale": soak_scale}[args.kind](args)


if __name__ == "__main__":
    sys.exit(main())
