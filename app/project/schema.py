"""The project file's schema: read, validate the whole file, or refuse it with one clear error.

``ris-studio.project.json`` (version 2; version 1 files are read too)::

    {"format": "ris-studio-project", "version": 2,
     "next_annotation_id": int, "next_image_id": int,      # > every id in the file
     "categories": {label: id},                            # unique positive ids
     "label_colors": {label: [r, g, b]},                   # v2, optional
     "predefined_labels": [label, ...],                    # v2, optional
     "images": [{"id": int, "file": "sub/name.jpg",       # relative, inside the folder
                 "file_raw": "hex bytes",                  # only for a name that is not UTF-8
                 "size": [w, h] | null,                    # upright; required with annotations
                 "annotations": [{"id": int, "label": str, "expressions": [str, ...],
                                  "visible": bool, "source": "manual" | "batch" | "import" | "polygon" | "box",
                                  "review": "accepted" | "to_review", "score": float | null,
                                  "rle": {"size": [h, w], "counts": str},
                                  "color": [r, g, b]}]}]}  # v1: per annotation (read only)

Old files with ``"expression": str`` instead of a list are read as a one-item list. Everything is
checked before anything is used: types (a bool is not an int, 1e400 is not an id), ranges, unique
ids, ids below the next-id counters, file names that stay inside the folder, strings that can be
written back as UTF-8, and RLE counts that cover exactly the mask (see :func:`rle.check_counts`).
Unknown keys are ignored (a newer minor version may add some); a newer major version is refused.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from rismodel.data.errors import DatasetError
from rismodel.data.paths import path_inside

from . import rle as rlemod
from .errors import ProjectFileError

FORMAT = "ris-studio-project"
VERSION = 2
MAX_ID = 2 ** 53  # JSON numbers beyond this are not exact in most readers
MAX_SIDE = 1 << 17  # 131072 px per side: beyond any photo, far below what RLE sizes can hold
REVIEW_STATES = ("accepted", "to_review")
SOURCES = ("manual", "batch", "import", "polygon", "box")


class Invalid(ValueError):
    """One problem, with the JSON path where it is."""


@dataclass
class AnnData:
    id: int
    label: str
    expressions: list[str]
    rle: dict  # {"size": [h, w], "counts": bytes}, validated
    visible: bool = True
    source: str = "manual"
    review: str = "accepted"
    score: float | None = None
    color: tuple[int, int, int] | None = None  # version 1 only


@dataclass
class ImageData:
    id: int
    key: str
    size: tuple[int, int] | None
    annotations: list[AnnData] = field(default_factory=list)


@dataclass
class ProjectData:
    next_annotation_id: int = 1
    next_image_id: int = 1
    categories: dict[str, int] = field(default_factory=dict)
    label_colors: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    predefined_labels: list[str] = field(default_factory=list)
    images: list[ImageData] = field(default_factory=list)
    version: int = VERSION


def _int(v, where, lo=1, hi=MAX_ID) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid(f"{where} must be an integer, got {_show(v)}")
    if not lo <= v <= hi:
        raise Invalid(f"{where} is {v}, outside {lo}..{hi}")
    return v


def _show(v) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    text = json.dumps(v) if isinstance(v, (int, float, str, bool)) or v is None else type(v).__name__
    return text if len(text) < 40 else text[:37] + "..."


def _text(v, where, empty_ok=False) -> str:
    if not isinstance(v, str):
        raise Invalid(f"{where} must be a string, got {_show(v)}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{where} is not valid Unicode (a lone surrogate)") from None
    if not empty_ok and not v.strip():
        raise Invalid(f"{where} is empty")
    return v


def normalise_label(v: str) -> str:
    return " ".join(str(v).split())


def _dict(v, where) -> dict:
    if not isinstance(v, dict):
        raise Invalid(f"{where} must be an object, got {_show(v) if not isinstance(v, list) else 'a list'}")
    return v


def _list(v, where) -> list:
    if not isinstance(v, list):
        raise Invalid(f"{where} must be a list, got {_show(v) if not isinstance(v, dict) else 'an object'}")
    return v


def _color(v, where) -> tuple[int, int, int]:
    v = _list(v, where)
    if len(v) != 3:
        raise Invalid(f"{where} must be [r, g, b]")
    return tuple(_int(c, f"{where}[{i}]", 0, 255) for i, c in enumerate(v))


def check_key(key: str, where: str = "file") -> str:
    """A project key: a relative POSIX path that stays inside the project folder."""
    if not key or "\x00" in key:
        raise Invalid(f"{where} is empty or holds a NUL character")
    try:  # the data readers' rule: no absolute, drive or '..' name (POSIX and Windows spelling)
        path_inside(".", key, where)
    except DatasetError:
        raise Invalid(f"{where} {key!r} is absolute or uses '..': image paths must stay inside the "
                      "project folder") from None
    # A key is also an identity: one spelling per file (no "./", "//", backslashes).
    if "\\" in key or any(p in ("", ".") for p in key.split("/")) or posixpath.normpath(key) != key:
        raise Invalid(f"{where} {key!r} is not a plain relative path (a/b.jpg)")
    return key


def _key(im: dict, where: str) -> str:
    if "file_raw" in im:  # a name that is not UTF-8: its bytes, as the file system has them
        raw = im["file_raw"]
        if not isinstance(raw, str):
            raise Invalid(f"{where}.file_raw must be a hex string")
        try:
            key = os.fsdecode(bytes.fromhex(raw))
        except ValueError:
            raise Invalid(f"{where}.file_raw is not hex") from None
    else:
        key = im.get("file")
        if not isinstance(key, str):
            raise Invalid(f"{where}.file must be a string, got {_show(key)}")
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid(f"{where}.file is not valid Unicode; non-UTF-8 names go in file_raw") from None
    return check_key(key, f"{where}.file")


def _rle(v, size, where) -> dict:
    v = _dict(v, where)
    h, w = (size[1], size[0]) if size else (None, None)
    s = _list(v.get("size"), f"{where}.size")
    if len(s) != 2:
        raise Invalid(f"{where}.size must be [height, width]")
    sh, sw = _int(s[0], f"{where}.size[0]", 1, MAX_SIDE), _int(s[1], f"{where}.size[1]", 1, MAX_SIDE)
    if size is None:
        raise Invalid(f"{where}: the image has annotations but no size")
    if (sh, sw) != (h, w):
        raise Invalid(f"{where}.size is [{sh}, {sw}] but the image is {w}x{h}")
    counts = v.get("counts")
    if not isinstance(counts, str):
        raise Invalid(f"{where}.counts must be a compressed RLE string, got {_show(counts)}")
    try:
        raw = counts.encode("ascii")
    except UnicodeEncodeError:
        raise Invalid(f"{where}.counts holds characters outside the RLE alphabet") from None
    return {"size": [sh, sw], "counts": raw}  # counts are checked for the whole file at once


def validate(data) -> ProjectData:
    """The validated content of a parsed project file; :class:`Invalid` names the first problem."""
    data = _dict(data, "the top level")
    if data.get("format") != FORMAT:
        raise Invalid(f"it is not a RIS Studio project file (format is {_show(data.get('format'))})")
    version = _int(data.get("version"), "version", 1, 10 ** 6)
    if version > VERSION:
        raise Invalid(f"it was written by a newer RIS Studio (version {version}; this one reads up to {VERSION})")
    out = ProjectData(_int(data.get("next_annotation_id"), "next_annotation_id"),
                      _int(data.get("next_image_id"), "next_image_id"), version=version)
    cats = _dict(data.get("categories", {}), "categories")
    for name, cid in cats.items():
        label = normalise_label(_text(name, f"categories key {_show(name)}"))
        out.categories[label] = _int(cid, f"categories[{_show(name)}]")
    if len(set(out.categories.values())) != len(out.categories):
        raise Invalid("categories: two labels share one id")
    for name, col in _dict(data.get("label_colors", {}), "label_colors").items():
        out.label_colors[normalise_label(_text(name, "label_colors key"))] = _color(col, f"label_colors[{_show(name)}]")
    for i, name in enumerate(_list(data.get("predefined_labels", []), "predefined_labels")):
        out.predefined_labels.append(normalise_label(_text(name, f"predefined_labels[{i}]")))
    image_ids, keys, ann_ids = set(), set(), set()
    for i, im in enumerate(_list(data.get("images"), "images")):
        where = f"images[{i}]"
        im = _dict(im, where)
        iid = _int(im.get("id"), f"{where}.id")
        if iid in image_ids:
            raise Invalid(f"{where}.id {iid} is used by two images")
        if iid >= out.next_image_id:
            raise Invalid(f"{where}.id {iid} is not below next_image_id {out.next_image_id} (ids would be reused)")
        image_ids.add(iid)
        key = _key(im, where)
        if key in keys:
            raise Invalid(f"{where}.file {key!r} is listed twice")
        keys.add(key)
        size = im.get("size")
        if size is not None:
            size = _list(size, f"{where}.size")
            if len(size) != 2:
                raise Invalid(f"{where}.size must be [width, height]")
            size = (_int(size[0], f"{where}.size[0]", 1, MAX_SIDE), _int(size[1], f"{where}.size[1]", 1, MAX_SIDE))
        entry = ImageData(iid, key, size)
        for j, a in enumerate(_list(im.get("annotations", []), f"{where}.annotations")):
            aw = f"{where}.annotations[{j}]"
            a = _dict(a, aw)
            aid = _int(a.get("id"), f"{aw}.id")
            if aid in ann_ids:
                raise Invalid(f"{aw}.id {aid} is used by two annotations")
            if aid >= out.next_annotation_id:
                raise Invalid(f"{aw}.id {aid} is not below next_annotation_id {out.next_annotation_id} "
                              "(ids would be reused)")
            ann_ids.add(aid)
            label = normalise_label(_text(a.get("label"), f"{aw}.label"))
            if "expressions" in a:
                exprs = [_text(s, f"{aw}.expressions[{k}]", empty_ok=True)
                         for k, s in enumerate(_list(a["expressions"], f"{aw}.expressions"))]
            elif "expression" in a:  # the oldest files kept one expression
                exprs = [_text(a["expression"], f"{aw}.expression", empty_ok=True)]
            else:
                exprs = []
            exprs = [s for s in exprs if s.strip()]
            visible = a.get("visible", True)
            if not isinstance(visible, bool):
                raise Invalid(f"{aw}.visible must be true or false")
            source = a.get("source", "manual")
            if source not in SOURCES:
                raise Invalid(f"{aw}.source must be one of {', '.join(SOURCES)}, got {_show(source)}")
            review = a.get("review", "accepted")
            if review not in REVIEW_STATES:
                raise Invalid(f"{aw}.review must be one of {', '.join(REVIEW_STATES)}, got {_show(review)}")
            score = a.get("score")
            if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                      or not math.isfinite(score)):
                raise Invalid(f"{aw}.score must be a finite number or null, got {_show(score)}")
            color = _color(a["color"], f"{aw}.color") if "color" in a else None
            entry.annotations.append(AnnData(aid, label, exprs, _rle(a.get("rle"), size, f"{aw}.rle"), visible,
                                             source, review, None if score is None else float(score), color))
            if label not in out.categories:  # a hand-edited file: give the label an id
                out.categories[label] = max(out.categories.values(), default=0) + 1
        out.images.append(entry)
    anns = [(a, f"images[{i}].annotations[{j}]") for i, im in enumerate(out.images)
            for j, a in enumerate(im.annotations)]
    bad = rlemod.check_many([a.rle["counts"] for a, _ in anns], [tuple(a.rle["size"]) for a, _ in anns])
    if bad:
        raise Invalid(f"{anns[bad[0]][1]}.rle.counts: {bad[1]}")
    return out


def parse(text: bytes | str):
    """JSON text -> Python objects; every way it can fail is an :class:`Invalid`."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError as e:
        raise Invalid(f"it is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise Invalid(f"it is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise Invalid("it is nested too deeply to be a project file") from None
    except (ValueError, MemoryError) as e:  # e.g. an integer literal too long to convert
        raise Invalid(f"it is not a usable JSON file ({e})") from None


def read(path: Path, text: bytes | None = None) -> ProjectData:
    """Read and validate ``path`` (or the given bytes of it) -> :class:`ProjectData`."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_bytes()
        except OSError as e:
            raise ProjectFileError(path, f"it cannot be read ({e.strerror or e})") from None
    try:
        return validate(parse(text))
    except Invalid as e:
        raise ProjectFileError(path, str(e)) from None
    except RecursionError:
        raise ProjectFileError(path, "it is nested too deeply to be a project file") from None
