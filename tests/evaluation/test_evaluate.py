"""Evaluation on fixture datasets with a fake predictor: metrics equal the hand-computed ones."""

import json

import pytest
from eval_fixtures import FakePredictor

from rismodel import cli
from rismodel.data.refer import load_dataset
from rismodel.evaluation.baselines import LargestObject, WholeImage
from rismodel.evaluation.evaluate import EvalError, ModelSegmenter, evaluate

# Per expression, at the 8x8 input size (I, U): left square (16, 16), the big thing... (16, 32),
# lower right (20, 24), top bar (0, 16), the tiny dot (1, 1).
INPUT_IOUS = [1.0, 0.5, 20 / 24, 0.0, 1.0]
# At 16x16 every area is 4x larger, except the dot: a 2x2 predicted block over 1 pixel.
ORIGINAL_IOUS = [1.0, 0.5, 20 / 24, 0.0, 0.25]


def _run(root, pred, **kw):
    samples = load_dataset(root, "refcoco", "unc", "test", images_dir=root / "images")
    return evaluate(samples, ModelSegmenter(pred), generalised=False, image_size=8, progress=False, **kw)


def test_classic_metrics_at_input_resolution_and_batching(refer_root, fake_predictor):
    r = _run(refer_root, fake_predictor, batch_size=2)
    assert r["count"] == 5
    assert r["oIoU"] == pytest.approx(53 / 89)
    assert r["mIoU"] == pytest.approx(sum(INPUT_IOUS) / 5)
    assert [r[f"Prec@{x}"] for x in (0.5, 0.6, 0.7, 0.8, 0.9)] == pytest.approx([0.8, 0.6, 0.6, 0.6, 0.4])
    by_len = r["oIoU_by_length"]
    assert by_len["[1,3)"] == {"oIoU": pytest.approx(36 / 56), "count": 3}
    assert by_len["[3,8)"]["count"] == 1 and by_len["[8,13)"]["oIoU"] == 0.5
    # batches of 2 expressions across refs and images; the val ref is not evaluated
    assert [len(b) for b in fake_predictor.batches] == [2, 2, 1]
    assert all("in val only" not in b for b in fake_predictor.batches)


def test_original_resolution_differs_where_nearest_resize_matters(refer_root, fake_predictor):
    r = _run(refer_root, fake_predictor, resolution="original", batch_size=3)
    assert r["oIoU"] == pytest.approx((64 + 64 + 80 + 0 + 1) / (64 + 128 + 96 + 64 + 4))
    assert r["mIoU"] == pytest.approx(sum(ORIGINAL_IOUS) / 5)


def test_limit_evaluates_the_first_expressions(refer_root, fake_predictor):
    r = _run(refer_root, fake_predictor, limit=2, batch_size=8)
    assert r["count"] == 2 and r["oIoU"] == pytest.approx(32 / 48)
    assert fake_predictor.batches == [["left square", "the big thing on the left side of it"]]


def test_generalised_metrics_use_the_presence_head(grefs_root, fake_predictor):
    samples = load_dataset(grefs_root, "grefcoco", "unc", "val", images_dir=grefs_root / "images")
    r = evaluate(samples, ModelSegmenter(fake_predictor, use_presence=True), generalised=True,
                 image_size=8, progress=False)
    # both squares: I=U=40; a cat: emptied, no-target hit; a dog: miss, U += 8;
    # the top bar: emptied, target miss, U += 16.
    assert r["cIoU"] == pytest.approx(40 / (40 + 8 + 16))
    assert r["gIoU"] == pytest.approx(0.5)
    assert r["N-acc"] == 0.5 and r["T-acc"] == 0.5 and r["Prec@0.5"] == 0.5
    assert r["target_count"] == 2 and r["no_target_count"] == 2


def test_missing_image_is_a_clear_error(refer_root, fake_predictor):
    (refer_root / "images" / "b.png").unlink()
    with pytest.raises(EvalError, match=r"ref 3: .*b\.png"):
        _run(refer_root, fake_predictor)


def test_baselines(refer_root):
    samples = load_dataset(refer_root, "refcoco", "unc", "test", images_dir=refer_root / "nowhere")
    r = evaluate(samples, WholeImage(), generalised=False, image_size=8, progress=False)
    assert r["oIoU"] == pytest.approx((16 + 16 + 24 + 16 + 1) / (5 * 64))  # needs no image files
    lo = LargestObject.from_instances(refer_root / "refcoco" / "instances.json")
    r = evaluate(samples, lo, generalised=False, image_size=8, progress=False)
    # image 1 -> GT2 (24 cells), image 2 -> GT3 (the crowd region is skipped)
    assert r["oIoU"] == pytest.approx((0 + 0 + 24 + 16 + 1) / (40 + 40 + 24 + 16 + 16))
    assert r["mIoU"] == pytest.approx((0 + 0 + 1 + 1 + 1 / 16) / 5)


def test_eval_command_prints_table_and_writes_json(refer_root, monkeypatch, tmp_path, capsys):
    fake = FakePredictor()
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: fake)
    out = tmp_path / "res" / "m.json"
    rc = cli.main(["eval", "--model", "fake", "--data-root", str(refer_root), "--dataset", "refcoco",
                   "--split", "test", "--images", str(refer_root / "images"), "--json", str(out),
                   "--quiet", "--batch-size", "4"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| oIoU | mIoU |" in text and f"{100 * 53 / 89:.2f}" in text
    rec = json.loads(out.read_text())
    assert rec["metrics"]["oIoU"] == pytest.approx(53 / 89) and rec["image_size"] == 8
    assert rec["resolution"] == "input" and rec["generalised"] is False and rec["expressions"] == 5


def test_per_expression_counts_add_up_to_the_metrics_and_feed_a_paired_comparison(
        refer_root, monkeypatch, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    base = ["eval", "--data-root", str(refer_root), "--dataset", "refcoco", "--split", "test",
            "--images", str(refer_root / "images"), "--quiet", "--per-expression"]
    assert cli.main(base[:1] + ["--model", "fake"] + base[1:]
                    + ["--json", str(tmp_path / "m.json")]) == 0
    assert cli.main(base[:1] + ["--baseline", "whole-image", "--image-size", "8"] + base[1:]
                    + ["--json", str(tmp_path / "w.json")]) == 0
    rows = json.loads((tmp_path / "m.json").read_text())["per_expression"]
    assert [r["sentence"] for r in rows][:2] == ["left square", "the big thing on the left side of it"]
    assert [(r["inter"], r["union"]) for r in rows] == [(16, 16), (16, 32), (20, 24), (0, 16), (1, 1)]
    assert sum(r["inter"] for r in rows) / sum(r["union"] for r in rows) == pytest.approx(53 / 89)
    # --per-expression without a file to hold the counts is refused
    assert cli.main(base[:1] + ["--model", "fake"] + base[1:]) == 2
    assert "--per-expression needs --json" in capsys.readouterr().err

    spec = importlib.util.spec_from_file_location(
        "paired_gap", Path(__file__).resolve().parents[2] / "scripts" / "paired_gap.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    whole = json.loads((tmp_path / "w.json").read_text())["per_expression"]
    res = mod.paired_gap(whole, rows, reps=200)
    assert res["all"]["b"] == pytest.approx(53 / 89)
    assert res["all"]["a"] == pytest.approx(sum(r["inter"] for r in whole) / sum(r["union"] for r in whole))
    assert res["all"]["gap"] == pytest.approx(res["all"]["b"] - res["all"]["a"])
    assert res["all"]["gap_lo"] <= res["all"]["gap"] <= res["all"]["gap_hi"]
    assert res["[1,3)"]["count"] == 3 and res["[1,3)"]["b"] == pytest.approx(36 / 56)
    with pytest.raises(ValueError, match="same expressions"):
        mod.paired_gap(whole, rows[::-1])


def test_eval_command_baseline_and_generalised_autodetect(grefs_root, capsys):
    rc = cli.main(["eval", "--baseline", "whole-image", "--data-root", str(grefs_root),
                   "--dataset", "grefcoco", "--split", "val", "--image-size", "8", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| cIoU | gIoU | N-acc | T-acc |" in text
    assert "| 0.00 |" in text  # whole image never says "no target": N-acc 0


def test_eval_command_errors(refer_root, capsys):
    assert cli.main(["eval", "--baseline", "whole-image", "--data-root", str(refer_root),
                     "--dataset", "refcoco"]) == 2
    assert "--split" in capsys.readouterr().err
    assert cli.main(["eval", "--baseline", "whole-image", "--data-root", str(refer_root),
                     "--dataset", "refcoco", "--split", "nope"]) == 2
    assert "unknown split 'nope'" in capsys.readouterr().err


def test_eval_command_on_a_coco_file_with_no_target_expressions(tmp_path, monkeypatch, capsys):
    from eval_fixtures import GT1, up, write_images

    from rismodel.data.coco_refs import ImageEntry, ObjectEntry, build_coco, save_coco

    write_images(tmp_path)  # a.png, b.png next to the JSON: the default image folder
    entries = [ImageEntry("a.png", 16, 16, [ObjectEntry("square", up(GT1), ["left square"])],
                          no_target_expressions=["a cat", "a dog"])]
    save_coco(tmp_path / "set.json", build_coco(entries))
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    out = tmp_path / "r.json"
    assert cli.main(["eval", "--model", "fake", "--coco", str(tmp_path / "set.json"), "--quiet",
                     "--json", str(out)]) == 0
    m = json.loads(out.read_text())["metrics"]
    # left square: I=U=16; a cat: emptied by the presence head (hit); a dog: 8 pixels (miss)
    assert m["protocol"] == "generalised" and m["cIoU"] == pytest.approx(16 / 24)
    assert m["gIoU"] == pytest.approx(2 / 3) and m["N-acc"] == 0.5 and m["T-acc"] == 1.0
    assert "cIoU" in capsys.readouterr().out


def test_refer_pickle_wins_over_grefs_unless_generalised_is_asked(refer_root, capsys):
    (refer_root / "refcoco" / "grefs(unc).json").write_text(json.dumps(
        [{"ref_id": 1, "ann_id": [-1], "image_id": 1, "split": "test", "sentences": [{"raw": "x"}]}]))
    base = ["eval", "--baseline", "whole-image", "--data-root", str(refer_root), "--dataset", "refcoco",
            "--split", "test", "--image-size", "8", "--quiet"]
    assert cli.main(base) == 0
    assert "| oIoU | mIoU |" in capsys.readouterr().out
    assert cli.main([*base, "--generalised"]) == 0
    assert "1 expressions (0 with a target, 1 without)" in capsys.readouterr().out


def test_shape_breakdown_groups_shape_only_expressions_by_shape_and_size(monkeypatch):
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[2] / "scripts"
    monkeypatch.syspath_prepend(str(scripts))
    from shape_breakdown import shape_breakdown

    def row(sentence, inter, union, gt_area):  # |P| from I + U = |P| + |G|
        return {"sentence": sentence, "words": len(sentence.split()), "inter": inter, "union": union,
                "gt_area": gt_area, "pred_area": inter + union - gt_area}

    rows = [row("the star", 9, 10, 10), row("star", 0, 20, 5), row("the Ring", 5, 10, 8),
            row("the ring", 6, 10, 9), row("the red star on the left", 1, 1, 1)]  # 6 words: not counted
    res = shape_breakdown(rows)
    assert res["all"]["count"] == 4 and res["all"]["oiou"] == pytest.approx(20 / 50)
    assert res["by_shape"]["star"] == {"count": 2, "oiou": pytest.approx(9 / 30), "p50": 0.5}
    assert res["by_shape"]["ring"]["count"] == 2 and res["by_shape"]["ring"]["p50"] == 1.0
    assert "circle" not in res["by_shape"]
    # quartiles of the four areas: each row in one size group, the smallest (a miss) alone in the first
    assert sum(g["count"] for g in res["by_size"].values()) == 4
    assert next(iter(res["by_size"].values())) == {"count": 1, "oiou": 0.0, "p50": 0.0}
