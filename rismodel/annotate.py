"""Batch annotation: run referring expressions over many images and write COCO with expressions.

Every expression is run on every image; each non-empty predicted mask becomes one COCO object
whose ``expressions`` hold the text, with the conventions of :mod:`rismodel.data.coco_refs`
(compressed RLE, stable ids: images by file name, categories by name, annotations in image
order). An empty mask (nothing over the threshold, or LQMFormer's no-object head saying
"nothing") is not written and is reported; an unreadable image is reported and skipped, never
the end of the run.

Streaming and resume (runs over thousands of images):

- Images are processed one at a time in file-name order; each finished image is appended as one
  JSON line (its objects as RLE) to a journal next to the output, ``.<out>.partial.jsonl``, so
  memory holds one image and its masks, whatever the number of images.
- Run the same command again after a stop (Ctrl-C, kill, full disk, power cut): the images in
  the journal are skipped and the run continues. A line cut short by a kill is dropped. A
  journal made with other settings (model, expressions, threshold, label, image folder) is
  refused; ``--restart`` discards it.
- At the end the COCO file is written from the journal, streamed, atomically (the previous file
  at ``out`` stays intact until the new one is complete), and the journal is deleted.

Under ``torchrun`` (``WORLD_SIZE`` > 1; NCCL on CUDA, Gloo on CPU) rank r takes the pending
images i with i % world == r and appends to its own journal ``.<out>.partial.r<r>of<world>.jsonl``;
rank 0 merges the journals by file name into the same file a single process writes. All ranks
must see the same file system (one machine, ``torchrun --standalone``).
"""

from __future__ import annotations

import heapq
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from rismodel.data.coco_refs import ImageEntry, ObjectEntry, build_coco
from rismodel.fileio import WriteError, atomic_write, describe_write_error, resolve_target
from rismodel.imageio import ImageLoadError, load_image

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
JOURNAL_FORMAT = "rismodel-annotate-journal/1"
FSYNC_EVERY_S = 5.0  # a kill loses nothing that was flushed; fsync bounds a power cut's loss


class AnnotateError(ValueError):
    """Nothing can be annotated (no images, no expressions, a foreign journal); says why."""


@dataclass
class Report:
    images: int = 0  # images annotated (readable)
    masks: int = 0  # objects written
    skipped_images: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    empty: list[tuple[str, str]] = field(default_factory=list)  # (file name, expression)
    resumed: int = 0  # images taken from an earlier, stopped run's journal


def find_images(inputs: list[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Folders are searched recursively for image files; files are taken as given.

    Returns (images sorted and de-duplicated, [(path, reason)] for inputs that cannot be used).
    """
    found, missing = set(), []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.update(f.resolve() for f in p.rglob("*") if f.is_file()
                         and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
        elif p.is_file():
            found.add(p.resolve())
        elif p.exists():
            missing.append((os.fsdecode(p), "not a regular file (a FIFO, device or socket)"))
        else:
            missing.append((os.fsdecode(p), "no such file or folder"))
    return sorted(found), missing


def images_root(images: list[Path]) -> Path:
    """The deepest folder holding every image: COCO file names are relative to it."""
    return Path(os.path.commonpath([str(p.parent) for p in images]))


def _valid_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept as surrogate escapes
        return False
    return True


# ----- the journal -----------------------------------------------------------------------------

def journal_path(out: Path, rank: int = 0, world: int = 1) -> Path:
    tag = "" if world == 1 else f".r{rank}of{world}"
    return out.with_name(f".{out.name}.partial{tag}.jsonl")


def _journals(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.partial*.jsonl")) if out.parent.is_dir() else []


def _read_lines(path: Path) -> Iterator[dict]:
    """The complete records of a journal (a last line cut short by a kill is left out)."""
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            try:
                yield json.loads(raw)
            except ValueError:
                return


def _read_journal(path: Path, settings: dict) -> Iterator[dict]:
    records = _read_lines(path)
    header = next(records, None)
    if header is None:
        return
    if header.get("format") != JOURNAL_FORMAT or header.get("settings") != settings:
        raise AnnotateError(f"{path} is left from a stopped run with other settings "
                            f"({_differences(header.get('settings'), settings)}); run again with "
                            "--restart to discard it, or give another --out")
    yield from records


def _differences(old, new: dict) -> str:
    if not isinstance(old, dict):
        return "unreadable header"
    keys = [k for k in new if old.get(k) != new[k]] + [k for k in old if k not in new]
    return "different " + ", ".join(keys) if keys else "same settings"


class _Journal:
    """Appends one line per finished image; the header line names the run's settings."""

    def __init__(self, path: Path, settings: dict):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists() or path.stat().st_size == 0
            if not fresh:
                _trim_partial_line(path)
            self.f = open(path, "ab")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise WriteError(describe_write_error(path, e)) from e
        self.synced = time.monotonic()
        if fresh:
            self._write({"format": JOURNAL_FORMAT, "settings": settings})

    def _write(self, record: dict) -> None:
        try:
            self.f.write(json.dumps(record, allow_nan=False).encode("utf-8") + b"\n")
            self.f.flush()  # in the kernel: survives a kill of this process
            if time.monotonic() - self.synced > FSYNC_EVERY_S:
                os.fsync(self.f.fileno())
                self.synced = time.monotonic()
        except OSError as e:  # a full disk: what is in the journal so far is kept
            raise WriteError(f"{describe_write_error(self.path, e)}; the images finished so far are "
                             "kept: run the same command again to continue") from e

    def add(self, record: dict) -> None:
        self._write(record)

    def close(self) -> None:
        try:
            self.f.flush()
            os.fsync(self.f.fileno())
        except OSError:
            pass  # the error that stopped the run (if any) is the one to report
        finally:
            try:
                self.f.close()
            except OSError:
                pass


def _trim_partial_line(path: Path) -> None:
    """Cut a last line left unfinished by a kill, so that appended lines start on their own."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        pos = size
        while pos > 0:
            step = min(4096, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                pos = pos - step + nl + 1
                break
            pos -= step
        if pos != size:
            f.truncate(pos)


# ----- prediction ------------------------------------------------------------------------------

def _annotate_image(predictor, path: Path, name: str, texts: list[str], threshold: float,
                    label: str | None) -> dict:
    """One journal record: the image's objects (COCO fields, RLE) and its empty expressions."""
    try:
        rgb = load_image(path)  # upright [H, W, 3] uint8
    except ImageLoadError as e:
        return {"file_name": name, "skipped": e.reason, "path": os.fsdecode(path)}
    predictor.set_image(rgb)
    h, w = rgb.shape[:2]
    entry = ImageEntry(file_name=name, width=w, height=h)
    empty, scores = [], {}
    if not texts:  # photo-coco as the teacher: it proposes objects and writes their expressions
        entry.objects.extend(predictor.propose())
    for text in texts:
        pred = predictor.predict(text, threshold=threshold)
        if pred.mask.any():
            entry.objects.append(ObjectEntry(label or text, pred.mask, [text]))
        else:
            empty.append(text)
            scores[text] = round(float(pred.score), 4)
    # build_coco makes the segmentation, area and bbox exactly as a whole-file export would.
    coco = build_coco([entry])
    objects = [{"label": o.label, "expressions": o.expressions, "segmentation": a["segmentation"],
                "area": a["area"], "bbox": a["bbox"]} for o, a in zip(entry.objects, coco["annotations"])]
    return {"file_name": name, "width": w, "height": h, "objects": objects, "empty": empty,
            "scores": scores}


def annotate(predictor, images: list[tuple[Path, str]], texts: list[str], journal: _Journal,
             threshold: float = 0.5, label: str | None = None, progress: bool = True, log=None,
             done_before: int = 0, total: int | None = None) -> None:
    """Run every text on every ``(path, file name)`` and append each image's record to ``journal``."""
    log = log or sys.stderr
    total = len(images) + done_before if total is None else total
    with tqdm(total=total, initial=done_before, file=sys.stderr, disable=not progress,
              unit="image", desc="annotating", dynamic_ncols=True) as bar:
        for path, name in images:
            record = _annotate_image(predictor, path, name, texts, threshold, label)
            journal.add(record)
            if "skipped" in record:
                tqdm.write(f"skipping {record['path']}: {record['skipped']}", file=log)
            for text in record.get("empty", []):
                tqdm.write(f"no mask: {name}: {text!r} (target score {record['scores'][text]:.2f})",
                           file=log)
            bar.update(1)


# ----- the output file -------------------------------------------------------------------------

def _merged(paths: list[Path], settings: dict) -> Iterator[dict]:
    """Image records of every journal, by file name (each image is in one journal only)."""
    yield from heapq.merge(*(_read_journal(p, settings) for p in paths), key=lambda r: r["file_name"])


def write_coco(out: Path, journals: list[Path], settings: dict, info: dict) -> Report:
    """Stream the journals into one COCO file (ids as build_coco gives them), atomically."""
    report = Report()
    labels = set()
    for rec in _merged(journals, settings):  # pass 1: the categories actually used
        labels.update(o["label"] for o in rec.get("objects", []))
    cats = {name: i for i, name in enumerate(sorted(labels), start=1)}

    def write(f) -> None:
        dump = json.dumps
        # info may hold a folder name that is not UTF-8: ASCII escapes keep the JSON valid.
        f.write('{"info": ' + dump(info, allow_nan=False) + ', "images": [')
        first, image_id = True, 0
        for rec in _merged(journals, settings):  # pass 2: images (ids 1.. by file name)
            if "skipped" in rec:
                report.skipped_images.append((rec["path"], rec["skipped"]))
                continue
            image_id += 1
            f.write(("" if first else ", ") + dump({"id": image_id, "file_name": rec["file_name"],
                                                    "width": rec["width"], "height": rec["height"]},
                                                   ensure_ascii=False))
            first = False
            report.images += 1
            report.empty += [(rec["file_name"], t) for t in rec["empty"]]
        f.write('], "annotations": [')
        first, image_id, ann_id = True, 0, 0
        for rec in _merged(journals, settings):  # pass 3: annotations in image, then object order
            if "skipped" in rec:
                continue
            image_id += 1
            for o in rec["objects"]:
                ann_id += 1
                ann = {"id": ann_id, "image_id": image_id, "category_id": cats[o["label"]],
                       "segmentation": o["segmentation"], "area": o["area"], "bbox": o["bbox"],
                       "iscrowd": 0, "expressions": o["expressions"]}
                f.write(("" if first else ", ") + dump(ann, ensure_ascii=False, allow_nan=False))
                first = False
        report.masks = ann_id
        f.write('], "categories": ' + dump([{"id": i, "name": n, "supercategory": "object"}
                                            for n, i in cats.items()], ensure_ascii=False) + "}")

    atomic_write(out, write, binary=False)
    return report


# ----- the command ---------------------------------------------------------------------------

def run(predictor_factory, inputs: list[str], texts: list[str], out: str | os.PathLike,
        threshold: float = 0.5, device: str = "auto", label: str | None = None,
        progress: bool = True, log=None, restart: bool = False, model_name: str | None = None
        ) -> Report | None:
    """The whole command, single-process or under torchrun. Returns the report on rank 0 (the
    one that writes ``out``), None on the other ranks.

    ``predictor_factory(device)`` builds the predictor after the process group is set up, so
    each rank loads its model on its own device. ``model_name`` (the ``--model`` argument) is part
    of the settings a journal must match to be resumed.
    """
    from rismodel.predictor import clean_text
    from rismodel.training.distributed import barrier, cleanup, setup

    log = log or sys.stderr
    texts = [" ".join(clean_text(t).split()) for t in texts]
    from rismodel.registry import PHOTO_MODEL

    if not any(texts) and model_name != PHOTO_MODEL:
        raise AnnotateError("give at least one non-empty --text (only --model photo-coco proposes "
                            "objects and expressions by itself)")
    texts = list(dict.fromkeys(t for t in texts if t))
    out = Path(out)
    resolve_target(out)  # a folder or a device as --out fails now, not after the whole run
    ctx = setup(device)
    try:
        images, missing = find_images(inputs)
        if ctx.is_main:
            for path, reason in missing:
                print(f"skipping {path}: {reason}", file=log)
        if not images:
            raise AnnotateError("no images found in: " + ", ".join(map(os.fsdecode, inputs)))
        root = images_root(images)
        named = []
        for p in images:
            name = p.relative_to(root).as_posix()
            if _valid_text(name):
                named.append((p, name))
            elif ctx.is_main:
                print(f"skipping {os.fsdecode(p)!r}: its name is not valid UTF-8 (COCO file names "
                      "are text); rename it", file=log)
        named.sort(key=lambda pn: pn[1])  # the output's image order
        settings = {"model": model_name, "texts": texts, "threshold": threshold, "label": label,
                    "images_root": os.fsdecode(root)}
        if restart and ctx.is_main:
            for j in _journals(out):
                j.unlink()
        barrier(ctx)  # the old journals are gone before anyone reads them
        done = set()
        for j in _journals(out):
            done.update(r["file_name"] for r in _read_journal(j, settings))
        barrier(ctx)  # every rank has read the same journals before anyone appends
        pending = [pn for pn in named if pn[1] not in done]
        if done and ctx.is_main:
            print(f"resuming: {len(done)} of {len(named)} image(s) already done in "
                  f"{journal_path(out, ctx.rank, ctx.world_size).name}", file=log)
        mine = pending[ctx.rank::ctx.world_size]  # pending image i goes to rank i % world
        if mine:
            # setup() made this rank's GPU the current one, so plain "cuda" lands on it.
            predictor = predictor_factory(ctx.device.type if ctx.distributed else device)
            journal = _Journal(journal_path(out, ctx.rank, ctx.world_size), settings)
            try:
                annotate(predictor, mine, texts, journal, threshold, label,
                         progress=progress and ctx.is_main, log=log,
                         done_before=len(done) if ctx.is_main else 0,
                         total=len(done) + len(pending) if ctx.is_main else len(mine))
            finally:
                journal.close()
        barrier(ctx)  # every journal is complete
        result = None
        if ctx.is_main:
            info = {"description": "rismodel annotate: masks predicted from referring expressions",
                    "model": model_name, "threshold": threshold, "images_root": os.fsdecode(root),
                    "expressions": texts}
            journals = _journals(out)
            try:
                result = write_coco(out, journals, settings, info)
            except WriteError as e:
                raise WriteError(f"{e}; the finished images are kept in {journals[0].name}: free some "
                                 "space and run the same command again") from e
            result.resumed = len(done)
            result.skipped_images = missing + result.skipped_images
            for j in journals:
                j.unlink()
        barrier(ctx)  # nobody leaves before the merged file exists
        return result
    finally:
        cleanup(ctx)
