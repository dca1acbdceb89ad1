"""Through the window's File actions: import a COCO file to review, export COCO / labelme / YOLO
(masks equal after the round trip), cut-outs cropped to the object; and opening: recent folders,
reopening the last folder, the image opened with Ctrl+O selected, window state remembered."""

import base64
import io
import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

pytestmark = pytest.mark.gui
K1, K3 = "synth_scene_1.jpg", "synth_scene_3.jpg"


def _open(qtbot, w, folder, key=K1):
    assert w.open_paths([folder])
    qtbot.waitUntil(lambda: w.project is not None and w.project.folder == folder.resolve(), timeout=5_000)
    w.show_image(key)
    qtbot.waitUntil(lambda: w.image is not None and w.key == key, timeout=20_000)


def _shape(w, key, seed):
    wd, h = w.project.entry(key).upright_size()
    m = np.zeros((h, wd), np.uint8)
    cv2.circle(m, (80 + 40 * seed, 90), 35, 1, -1)
    m[150:200, 30:140] = 1
    return m > 0


def test_import_coco_then_export_coco_labelme_yolo_round_trip(qtbot, make_window, demo_folder, tmp_path, messages):
    w = make_window()
    _open(qtbot, w, demo_folder)
    masks = {(K1, 0): _shape(w, K1, 0), (K1, 1): _shape(w, K1, 1), (K3, 0): _shape(w, K3, 2)}
    for (key, i), m in masks.items():
        w.project.add(key, "circle" if i == 0 else "blob", [f"thing {i}", f"the thing number {i}"], m)
    server = tmp_path / "server.coco.json"
    assert w.tasks.export_coco(str(server))  # what `rismodel annotate` / another install wrote

    other = tmp_path / "other"
    shutil.copytree(demo_folder, other, ignore=shutil.ignore_patterns("ris-studio.project.json*", ".*"))
    w2 = make_window()
    _open(qtbot, w2, other)
    report = w2.flow.interop.import_coco(str(server))
    assert report.added == 3 and not report.skipped
    got = {(k, a.expressions[0]): a for k, a in w2.project.to_review()}
    assert len(got) == 3 and all(a.review == "to_review" for a in got.values())
    for (key, i), m in masks.items():
        a = got[(key, f"thing {i}")]
        assert np.array_equal(a.mask, m) and a.expressions == [f"thing {i}", f"the thing number {i}"]
    assert w2.project.get(K1, got[(K1, "thing 0")].id).color == w2.project.label_color("circle")
    assert "imported 3" in w2.statusBar().currentMessage().lower()
    assert w2.files.count_text(K1).endswith("(2)")
    w2.undo()  # the import is one step
    assert w2.project.to_review() == []
    w2.redo()

    out = tmp_path / "out"
    coco_path = out / "again.coco.json"
    out.mkdir()
    assert w2.tasks.export_coco(str(coco_path))
    coco = COCO(str(coco_path))
    assert len(coco.getAnnIds()) == 3
    for ann in coco.loadAnns(coco.getAnnIds()):
        name = coco.loadImgs(ann["image_id"])[0]["file_name"]
        i = int(ann["expressions"][0].split()[-1])
        assert np.array_equal(coco.annToMask(ann).astype(bool), masks[(name, i)])

    assert w2.flow.interop.export_labelme(str(out / "labelme"))
    for key in (K1, K3):
        doc = json.loads((out / "labelme" / key).with_suffix(".json").read_text())
        assert (doc["imageWidth"], doc["imageHeight"]) == w2.project.entry(key).upright_size()
        for shape in doc["shapes"]:
            (x0, y0), _ = shape["points"]
            crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape["mask"])))) > 0
            full = np.zeros(masks[(key, 0)].shape, bool)
            full[int(y0):int(y0) + crop.shape[0], int(x0):int(x0) + crop.shape[1]] = crop
            i = int(shape["expressions"][0].split()[-1])
            assert np.array_equal(full, masks[(key, i)]) and shape["label"] == ("circle" if i == 0 else "blob")

    assert w2.flow.interop.export_yolo(str(out / "yolo"))
    names = (out / "yolo" / "classes.txt").read_text().split()
    assert sorted(names) == ["blob", "circle"]
    for key in (K1, K3):
        wd, h = w2.project.entry(key).upright_size()
        lines = (out / "yolo" / "labels" / key).with_suffix(".txt").read_text().splitlines()
        union = {}
        for line in lines:  # one line per part: a circle and a rectangle, each a polygon
            cls, *xy = line.split()
            poly = (np.asarray(xy, float).reshape(-1, 2) * [wd, h]).reshape(-1).tolist()
            m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([poly], h, wd))).astype(bool)
            union[names[int(cls)]] = union.get(names[int(cls)], np.zeros((h, wd), bool)) | m
        for (k, i), m in masks.items():
            if k == key:
                exact = union["circle" if i == 0 else "blob"]
                assert (exact ^ m).sum() <= 0.002 * m.sum()  # 6-decimal coordinates: a few pixels at most
    assert not messages


def test_cutout_cropped_to_the_object(qtbot, make_window, demo_folder, tmp_path, messages):
    w = make_window()
    _open(qtbot, w, demo_folder)
    m = np.zeros(w.image.shape[:2], bool)
    m[40:90, 100:130] = True
    ann = w.project.add(K1, "thing", "", m)
    w.annotations.select(ann.id)
    assert w.tasks.save_cutout(str(tmp_path / "full.png"))
    assert Image.open(tmp_path / "full.png").size == (w.image.shape[1], w.image.shape[0])
    w.actions["cutout_crop"].setChecked(True)
    assert w.tasks.save_cutout(str(tmp_path / "crop.png"))
    crop = np.asarray(Image.open(tmp_path / "crop.png"))
    assert crop.shape == (50, 30, 4) and (crop[..., 3] == 255).all()
    assert np.array_equal(crop[..., :3], w.image[40:90, 100:130])
    assert not messages


def test_recent_folders_reopen_and_window_state(qtbot, make_window, worker_thread, demo_folder, tmp_path,
                                                messages):
    other = tmp_path / "second"
    shutil.copytree(demo_folder, other, ignore=shutil.ignore_patterns("ris-studio.project.json*", ".*"))
    w = make_window()
    _open(qtbot, w, demo_folder)
    # Ctrl+O with one image: that image is shown, not the folder's first.
    assert w.open_paths([other / K3])
    qtbot.waitUntil(lambda: w.key == K3 and w.image is not None, timeout=20_000)
    assert w.files.currentItem().data(256) == K3
    assert w.flow.opening.recent() == [str(other.resolve()), str(demo_folder.resolve())]
    texts = [a.text() for a in w.flow.opening.recent_menu.actions() if a.text()]
    assert texts[0].endswith(str(other.resolve())) and texts[1].endswith(str(demo_folder.resolve()))
    recent_first = w.flow.opening.recent_menu.actions()[1]
    recent_first.trigger()  # back to the demo folder through the menu
    qtbot.waitUntil(lambda: w.project.folder == demo_folder.resolve(), timeout=5_000)

    w.prompt.radius.setValue(37)
    w.resize(720, 520)  # within the offscreen screen (800 x 600): restoreGeometry keeps windows on screen
    w.flow.labels.panel.parent().hide()  # the Labels dock, hidden by the user
    qtbot.wait(50)
    size = (w.width(), w.height())
    w.close()
    from app.mainwindow import MainWindow

    w2 = MainWindow(worker_thread=worker_thread, allow_random=True)
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == size  # the geometry of the last session
    w2.show()
    qtbot.waitUntil(lambda: w2.model_info is not None, timeout=60_000)
    assert w2.prompt.radius.value() == 37 and w2.canvas.radius == 37
    assert not w2.flow.labels.panel.parent().isVisible()
    assert w2.flow.opening.reopen_last()
    assert w2.project.folder == demo_folder.resolve()
    assert not messages
