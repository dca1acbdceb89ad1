"""The scale benchmark runs (tiny sizes here; figures from `python -m app.project.bench`)."""

import numpy as np
from pycocotools import mask as mask_utils

from app.project.bench import ellipse_rle, main
from app.project.rle import check_counts


def test_synthetic_masks_are_valid_rle_of_an_ellipse():
    h, w = 48, 64
    rle = ellipse_rle(h, w, 20.0, 30.0, 10.0, 15.0)
    assert check_counts(rle["counts"].encode(), h, w) is None
    m = mask_utils.decode({"size": [h, w], "counts": rle["counts"].encode()}).astype(bool)
    yy, xx = np.mgrid[:h, :w]
    ref = ((yy - 20.0) / 10.0) ** 2 + ((xx - 30.0) / 15.0) ** 2 <= 1
    assert (m ^ ref).sum() <= 0.05 * ref.sum() and m.sum() > 0.9 * ref.sum()


def test_bench_prints_its_figures(capsys):
    assert main(["--images", "4", "--anns", "3", "--width", "64", "--height", "48", "--browse", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 images of 64x48" in out and "12 annotations" in out
    for word in ("open:", "browse: 2 images", "save:", "autosave after one edit", "peak RSS:"):
        assert word in out
    assert main(["--images", "0"]) == 2
