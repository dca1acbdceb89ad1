"""`rismodel eval --model photo-coco` on a one-photo subset of resources/realphoto."""

import json
from pathlib import Path

from rismodel.cli import main

SET = Path(__file__).resolve().parents[2] / "resources" / "realphoto" / "realphoto.json"


def test_eval_runs_photo_coco_on_the_photos(tmp_path):
    data = json.loads(SET.read_text())
    [coffee] = [im for im in data["images"] if im["file_name"] == "coffee.jpg"]
    data["images"] = [coffee]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == coffee["id"]]
    cup = next(c["id"] for c in data["categories"] if c["name"] == "cup")
    for a in data["annotations"]:  # the spoon is not detected: keep its object, drop its expressions
        if a["category_id"] != cup:
            a["expressions"] = []
    sub = tmp_path / "coffee.json"
    sub.write_text(json.dumps(data))
    out = tmp_path / "m.json"
    assert main(["eval", "--model", "photo-coco", "--coco", str(sub), "--images", str(SET.parent),
                 "--resolution", "original", "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["expressions"] == 4 and r["metrics"]["oIoU"] > 0.5  # the cup, found and masked
