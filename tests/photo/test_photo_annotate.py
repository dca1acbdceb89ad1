"""`rismodel annotate --model photo-coco` without --text: the teacher's COCO output."""

import json
import shutil
from pathlib import Path

from rismodel.cli import main
from rismodel.data.coco_refs import load_coco_refs
from rismodel.photo.labels import COCO_CLASSES

PHOTOS = Path(__file__).resolve().parents[2] / "resources" / "realphoto"


def test_teacher_writes_coco_with_generated_expressions(tmp_path, monkeypatch):
    monkeypatch.setenv("RIS_PHOTO_MASK", "grabcut")  # the format is under test, not U2-Net-p: faster
    images = tmp_path / "photos"
    images.mkdir()
    shutil.copy(PHOTOS / "voc.jpg", images)
    out = tmp_path / "coco.json"
    assert main(["annotate", "--model", "photo-coco", "--images", str(images), "--out", str(out),
                 "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert {c["name"] for c in data["categories"]} <= set(COCO_CLASSES)
    assert len(data["annotations"]) >= 5  # a busy photo: several objects proposed
    exprs = [e for a in data["annotations"] for e in a["expressions"]]
    assert all(a["expressions"] and a["area"] > 0 for a in data["annotations"])
    assert any(" in " in e or "red" in e or "blue" in e for e in exprs)  # colour
    assert any("left" in e or "right" in e or "middle" in e for e in exprs)  # position
    samples = load_coco_refs(out)  # the format rismodel train and eval read
    assert len(samples) == len(data["annotations"]) and all(s.mask().any() for s in samples)


def test_other_models_still_need_text(tmp_path, capsys):
    assert main(["annotate", "--model", "lgformer-compact", "--images", str(PHOTOS / "voc.jpg"),
                 "--out", str(tmp_path / "x.json"), "--quiet"]) != 0
    assert "--text" in capsys.readouterr().err
