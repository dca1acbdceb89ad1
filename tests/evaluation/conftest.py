"""Fixtures: a tiny refer-format dataset and a gRefCOCO dataset written per test; a fake predictor."""

from __future__ import annotations

import json
import pickle

import pytest
from eval_fixtures import FakePredictor, instances, ref, write_images


@pytest.fixture
def refer_root(tmp_path):
    """DATA_ROOT with refcoco/instances.json, refcoco/refs(unc).p and images/ (split 'test')."""
    root = tmp_path / "data"
    (root / "refcoco").mkdir(parents=True)
    (root / "refcoco" / "instances.json").write_text(json.dumps(instances()))
    refs = [ref(1, 1, 1, "test", "left square", "the big thing on the left side of it"),
            ref(2, 2, 1, "test", "lower right"),
            ref(9, 1, 1, "val", "in val only"),
            ref(3, 3, 2, "test", "top bar"),
            ref(4, 4, 2, "test", "the tiny dot")]
    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    write_images(root / "images")
    return root


@pytest.fixture
def grefs_root(tmp_path):
    """DATA_ROOT with grefcoco/instances.json and grefcoco/grefs(unc).json (split 'val')."""
    root = tmp_path / "gdata"
    (root / "grefcoco").mkdir(parents=True)
    (root / "grefcoco" / "instances.json").write_text(json.dumps(instances()))
    refs = [ref(1, [1, 2], 1, "val", "both squares"),
            ref(2, [-1], 1, "val", "a cat", "a dog"),
            ref(3, [3], 2, "val", "the top bar")]
    (root / "grefcoco" / "grefs(unc).json").write_text(json.dumps(refs))
    write_images(root / "images")
    return root


@pytest.fixture
def fake_predictor():
    return FakePredictor()
