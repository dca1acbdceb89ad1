"""Metrics against hand-computed values, including every empty-target / empty-prediction case."""

import numpy as np
import pytest

from rismodel.evaluation.metrics import MetricAccumulator, markdown_table, mask_counts, word_count


def _mask(cells, shape=(4, 4)):
    m = np.zeros(shape, bool)
    for y, x in cells:
        m[y, x] = True
    return m


def test_counts_and_single_iou():
    pred = _mask([(0, 0), (0, 1), (1, 0)])
    gt = _mask([(0, 0), (1, 1)])
    assert mask_counts(pred, gt) == (1, 4, 3, 2)
    acc = MetricAccumulator()
    assert acc.add(pred, gt, n_words=2) == pytest.approx(0.25)


def test_shape_mismatch_and_bad_counts_are_rejected():
    acc = MetricAccumulator()
    with pytest.raises(ValueError, match="shape"):
        acc.add(np.zeros((2, 2)), np.zeros((3, 3)), 1)
    with pytest.raises(ValueError, match="inconsistent"):
        acc.add_counts(3, 2, 1, 1, n_words=1)
    with pytest.raises(ValueError, match="word count"):
        acc.add(np.zeros((2, 2)), np.zeros((2, 2)), -1)


def test_multi_sample_oiou_differs_from_miou():
    # Sample A: big object, I=8, U=16 -> IoU 0.5.  Sample B: small object, I=1, U=1 -> IoU 1.
    big = np.zeros((4, 4), bool)
    big[:2] = True  # 8 pixels
    pred_a = np.ones((4, 4), bool)  # 16 pixels
    small = _mask([(3, 3)])
    acc = MetricAccumulator()
    acc.add(pred_a, big, n_words=1)
    acc.add(small, small, n_words=4)
    r = acc.result()
    assert r["oIoU"] == pytest.approx(9 / 17)
    assert r["mIoU"] == pytest.approx(0.75)
    assert r["Prec@0.5"] == 1.0 and r["Prec@0.6"] == 0.5 and r["Prec@0.9"] == 0.5
    assert r["count"] == 2


def test_classic_zero_union_counts_as_iou_zero():
    acc = MetricAccumulator()
    empty = np.zeros((3, 3), bool)
    assert acc.add(empty, empty, 1) == 0.0
    r = acc.result()
    assert r["mIoU"] == 0.0 and r["oIoU"] is None and r["Prec@0.5"] == 0.0


def test_generalised_every_empty_case():
    e = np.zeros((4, 4), bool)
    gt = _mask([(0, 0), (0, 1)])  # 2 pixels
    pred = _mask([(0, 1), (1, 1), (2, 2)])  # 3 pixels, I=1, U=4
    acc = MetricAccumulator(generalised=True)
    assert acc.add(e, e, 1) == 1.0  # no-target hit
    assert acc.add(_mask([(3, 3), (3, 2)]), e, 1) == 0.0  # no-target miss: U += 2
    assert acc.add(e, gt, 1) == 0.0  # target miss: U += 2
    assert acc.add(pred, gt, 1) == pytest.approx(0.25)  # ordinary: I=1, U=4
    assert acc.add(gt, gt, 1) == 1.0  # ordinary: I=2, U=2
    r = acc.result()
    assert r["protocol"] == "generalised"
    assert r["cIoU"] == pytest.approx((0 + 0 + 1 + 2) / (2 + 2 + 4 + 2))
    assert r["gIoU"] == pytest.approx((1 + 0 + 0 + 0.25 + 1) / 5)
    assert r["N-acc"] == pytest.approx(1 / 2)
    assert r["T-acc"] == pytest.approx(2 / 3)  # the target miss had an empty prediction
    # Prec@X over the 3 targeted samples only: IoUs 0, 0.25, 1.
    assert r["Prec@0.5"] == pytest.approx(1 / 3) and r["Prec@0.9"] == pytest.approx(1 / 3)
    assert r["target_count"] == 3 and r["no_target_count"] == 2
    assert "mIoU" not in r and "oIoU" not in r


def test_generalised_without_no_target_samples_has_undefined_n_acc():
    acc = MetricAccumulator(generalised=True)
    acc.add(_mask([(0, 0)]), _mask([(0, 0)]), 1)
    r = acc.result()
    assert r["N-acc"] is None and r["T-acc"] == 1.0
    assert "n/a" in markdown_table(r)


def test_length_buckets_follow_lgformer_table3():
    assert word_count("  the  man on the left ") == 5
    acc = MetricAccumulator()
    gt = _mask([(0, 0), (0, 1)])
    acc.add(gt, gt, n_words=2)  # [1,3): I=2, U=2
    acc.add(_mask([(0, 0)]), gt, n_words=3)  # [3,8): I=1, U=2
    acc.add(np.zeros((4, 4), bool), gt, n_words=12)  # [8,13): I=0, U=2
    acc.add(_mask([(0, 0), (3, 3)]), gt, n_words=13)  # [13,inf): I=1, U=3
    acc.add(gt, gt, n_words=40)  # [13,inf): I=2, U=2
    acc.add(gt, gt, n_words=0)  # an empty sentence: in no bucket, but counted overall
    r = acc.result()
    assert r["count"] == 6 and r["mIoU"] == pytest.approx((1 + 0.5 + 0 + 1 / 3 + 1 + 1) / 6)
    b = r["oIoU_by_length"]
    assert sum(v["count"] for v in b.values()) == 5
    assert list(b) == ["[1,3)", "[3,8)", "[8,13)", "[13,inf)"]
    assert b["[1,3)"]["oIoU"] == 1.0 and b["[3,8)"]["oIoU"] == 0.5 and b["[8,13)"]["oIoU"] == 0.0
    assert b["[13,inf)"] == {"oIoU": pytest.approx(3 / 5), "count": 2}


def test_markdown_table_shows_percentages():
    acc = MetricAccumulator()
    acc.add(_mask([(0, 0)]), _mask([(0, 0), (0, 1)]), 2)
    text = markdown_table(acc.result(), title="test")
    assert "| oIoU | mIoU | Prec@0.5" in text
    assert "| 50.00 | 50.00 | 100.00 | 0.00 |" in text
    assert "1 expressions" in text
