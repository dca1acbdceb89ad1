"""Loaders for the refer format (RefCOCO, RefCOCO+, RefCOCOg, ReferIt) and gRefCOCO.

Layout (reference-facts.md, "Refer data format")::

    DATA_ROOT/<dataset>/instances.json      COCO-style images, annotations, categories
    DATA_ROOT/<dataset>/refs(<splitBy>).p   pickled list of refs (read with a restricted unpickler)
    DATA_ROOT/<dataset>/grefs(<splitBy>).json   gRefCOCO: ann_id is a list, [-1] = no target

Images live in a folder of their own: ``DATA_ROOT/images/mscoco/images/train2014`` for the
COCO-based sets, ``DATA_ROOT/images/saiapr_tc-12`` for refclef and ``DATA_ROOT/images`` for any
other dataset name (our procedural ``synthref``); ``images_dir`` overrides it.

Sentences: the ``raw`` text of each sentence (what LAVT feeds BERT), ``sent`` when ``raw`` is
missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from rismodel.data.errors import DatasetError
from rismodel.data.masks import check_image_size, check_segmentation
from rismodel.data.paths import path_inside
from rismodel.data.restricted_pickle import load_plain_pickle
from rismodel.data.sample import RefSample

COCO_IMAGES = Path("images/mscoco/images/train2014")
KNOWN_SPLIT_BY = {
    "refcoco": ("unc", "google"),
    "refcoco+": ("unc",),
    "refcocog": ("umd", "google"),
    "refclef": ("unc", "berkeley"),
    "grefcoco": ("unc",),
}
KNOWN_SPLITS = {
    "unc": ("train", "val", "testA", "testB", "test"),
    "umd": ("train", "val", "test"),
    "google": ("train", "val"),
    "berkeley": ("train", "val", "test"),
}


__all__ = ["DatasetError", "default_images_dir", "load_dataset", "load_instances", "read_json"]
MAX_JSON_BYTES = 2 * 1024 * 1024 * 1024  # the largest real file (gRefCOCO's instances) is ~0.3 GB


def default_images_dir(data_root: str | os.PathLike, dataset: str) -> Path:
    root = Path(data_root)
    if dataset == "refclef":
        return root / "images" / "saiapr_tc-12"
    if dataset in KNOWN_SPLIT_BY:
        return root / COCO_IMAGES
    return root / "images"


def _field(entry: Any, key: str, where: str, types: type | tuple[type, ...]) -> Any:
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: expected an object, got {type(entry).__name__}")
    if key not in entry:
        raise DatasetError(f"{where}: missing field '{key}'")
    value = entry[key]
    if not isinstance(value, types) or isinstance(value, bool):  # bool is an int to isinstance
        raise DatasetError(f"{where}: field '{key}' has type {type(value).__name__}")
    return value


def read_json(path: Path):
    """Parse a dataset JSON file; a missing, unreadable or malformed file is a DatasetError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found" if not path.exists() else f"{path}: not a regular file")
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise DatasetError(f"{path}: larger than the {MAX_JSON_BYTES:,} bytes a dataset file may have")
        text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    except RecursionError:
        raise DatasetError(f"{path}: not usable JSON (nested too deeply)") from None
    except MemoryError:
        raise DatasetError(f"{path}: too large to load into memory") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an int of too many digits
        raise DatasetError(f"{path}: not valid JSON ({str(e)[:200]})") from None


def load_instances(path: Path) -> tuple[dict[int, dict], dict[int, dict], dict[int, str]]:
    """instances.json -> (images by id, annotations by id, category names by id)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: top level must be an object with images/annotations/categories")
    images, anns, cats = {}, {}, {}
    for i, im in enumerate(_field(data, "images", str(path), list)):
        where = f"{path}: images[{i}]"
        image_id = _field(im, "id", where, int)
        if image_id in images:
            raise DatasetError(f"{where}: image id {image_id} appears twice")
        h, w = check_image_size(_field(im, "height", where, int), _field(im, "width", where, int), where)
        images[image_id] = {"file_name": _field(im, "file_name", where, str), "width": w, "height": h}
    for i, a in enumerate(_field(data, "annotations", str(path), list)):
        where = f"{path}: annotations[{i}]"
        _field(a, "image_id", where, int)
        _field(a, "segmentation", where, (list, dict))
        if "category_id" in a and not isinstance(a["category_id"], (int, type(None))):
            raise DatasetError(f"{where}: field 'category_id' has type {type(a['category_id']).__name__}")
        ann_id = _field(a, "id", where, int)
        if ann_id in anns:
            raise DatasetError(f"{where}: annotation id {ann_id} appears twice")
        anns[ann_id] = a
    for i, c in enumerate(_field(data, "categories", str(path), list) if "categories" in data else []):
        where = f"{path}: categories[{i}]"
        cats[_field(c, "id", where, int)] = _field(c, "name", where, str)
    return images, anns, cats


def _sentences(ref: dict, where: str) -> list[str]:
    out = []
    for j, s in enumerate(_field(ref, "sentences", where, list)):
        w = f"{where} sentences[{j}]"
        if isinstance(s, str):
            out.append(s)
        elif isinstance(s, dict) and isinstance(s.get("raw", s.get("sent")), str):
            out.append(s.get("raw", s.get("sent")))
        else:
            raise DatasetError(f"{w}: needs a 'raw' or 'sent' string")
    if not out:
        raise DatasetError(f"{where}: no sentences")
    return out


def _ann_ids(ref: dict, where: str) -> list[int]:
    value = _field(ref, "ann_id", where, (int, list))
    ids = value if isinstance(value, list) else [value]
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in ids):
        raise DatasetError(f"{where}: field 'ann_id' must be an int or a list of ints")
    return [a for a in ids if a != -1]  # gRefCOCO marks "no target" as [-1]


def _build_samples(refs: Any, refs_path: Path, split: str, images: dict, anns: dict, cats: dict,
                   images_dir: Path, inst_path: Path, allow_outside: bool = False
                   ) -> tuple[list[RefSample], set[str]]:
    if not isinstance(refs, list):
        raise DatasetError(f"{refs_path}: must hold a list of refs, got {type(refs).__name__}")
    samples, splits = [], set()
    for i, ref in enumerate(refs):
        where = f"{refs_path}: ref #{i}"
        ref_split = _field(ref, "split", where, str)
        splits.add(ref_split)
        if ref_split != split:
            continue
        ref_id = _field(ref, "ref_id", where, int)
        image_id = _field(ref, "image_id", where, int)
        where = f"{refs_path}: ref #{i} (ref_id {ref_id})"
        if image_id not in images:
            raise DatasetError(f"{where}: image_id {image_id} is not in {inst_path}")
        ids = _ann_ids(ref, where)
        for a in ids:
            if a not in anns:
                raise DatasetError(f"{where}: ann_id {a} is not in {inst_path}")
            if anns[a]["image_id"] != image_id:
                raise DatasetError(f"{where}: ann_id {a} belongs to image {anns[a]['image_id']}, "
                                   f"not {image_id}")
        im = images[image_id]
        for a in ids:  # checked now (cheap, nothing decoded), not in the middle of a training run
            check_segmentation(anns[a]["segmentation"], im["height"], im["width"],
                               f"{inst_path}: annotation {a}")
        image_path = path_inside(images_dir, im["file_name"], f"{inst_path}: image {image_id}", allow_outside)
        samples.append(RefSample(
            image_path=str(image_path), image_id=image_id, width=im["width"],
            height=im["height"], sentences=_sentences(ref, where), ann_ids=ids,
            segmentations=[anns[a]["segmentation"] for a in ids], ref_id=ref_id, split=ref_split,
            categories=[cats.get(anns[a].get("category_id"), "") for a in ids]))
    return samples, splits


def load_dataset(data_root: str | os.PathLike, dataset: str, split_by: str, split: str,
                 images_dir: str | os.PathLike | None = None,
                 fmt: Literal["auto", "refer", "grefs"] = "auto", allow_outside: bool = False
                 ) -> list[RefSample]:
    """All refs of one split as :class:`RefSample` (one per referred target).

    ``fmt="auto"`` reads ``refs(<split_by>).p`` when present (single-target refer protocol), else
    ``grefs(<split_by>).json``; ``"grefs"`` forces the generalised file (multi/no-target).
    Image ``file_name`` values must stay inside the images folder unless ``allow_outside``.
    Every problem with the files is a :class:`DatasetError` naming the file.
    """
    root = Path(data_root) / dataset
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    known = KNOWN_SPLIT_BY.get(dataset)
    if known is not None and split_by not in known:
        raise DatasetError(f"{dataset} has no split '{split_by}'; use one of: {', '.join(known)}")
    pickle_path, grefs_path = root / f"refs({split_by}).p", root / f"grefs({split_by}).json"
    if fmt == "auto":
        fmt = "refer" if pickle_path.is_file() or not grefs_path.is_file() else "grefs"
    refs_path = pickle_path if fmt == "refer" else grefs_path
    if not refs_path.is_file():
        raise DatasetError(f"{refs_path}: file not found")
    inst_path = root / "instances.json"
    images, anns, cats = load_instances(inst_path)
    refs = load_plain_pickle(refs_path) if fmt == "refer" else read_json(refs_path)
    img_dir = Path(images_dir) if images_dir is not None else default_images_dir(data_root, dataset)
    samples, splits = _build_samples(refs, refs_path, split, images, anns, cats, img_dir, inst_path,
                                     allow_outside)
    if not samples:
        has = ", ".join(sorted(splits)) or "no refs at all"
        if split in KNOWN_SPLITS.get(split_by, ()):
            raise DatasetError(f"{refs_path}: split '{split}' is empty (the file has: {has})")
        raise DatasetError(f"{refs_path}: unknown split '{split}' (the file has: {has})")
    return samples
