"""``rismodel pretrain``: SynthRef attribute maps, a few steps that learn, and a Swin file that the
referring models load through ``backbone.pretrained``."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from rismodel.cli import main
from rismodel.config import with_overrides
from rismodel.data.refer import load_instances
from rismodel.data.synth import generate
from rismodel.data.synth_scene import COLORS, SHAPES
from rismodel.registry import build_model, get_config
from rismodel.training.pretrain import (
    ATTRIBUTES,
    AttributeSegmenter,
    PretrainParams,
    load_attribute_data,
    pretrain,
)

TINY = with_overrides(get_config("lgformer-compact"), {"input.image_size": 64, "backbone.window_size": 4})


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root, 8, seed=0, size_range=(64, 80))
    return root


def test_label_maps_follow_the_annotations(synth):
    data = load_attribute_data(synth, "synthref", "unc", "train", 64)
    _, anns, cats = load_instances(synth / "synthref/instances.json")
    listed = json.loads((synth / "synthref/instances.json").read_text())["images"]
    train_ids = sorted(im["id"] for im in listed if im["split"] == "train")
    assert data.images.shape == (len(train_ids), 3, 64, 64)
    assert data.labels.shape == (len(train_ids), len(ATTRIBUTES), 16, 16)
    assert data.instances.shape == (len(train_ids), 16, 16)
    shape_k, color_k = list(ATTRIBUTES).index("shape"), list(ATTRIBUTES).index("color")
    for n, iid in enumerate(train_ids):
        want_shapes = {SHAPES.index(cats[a["category_id"]]) + 1 for a in anns.values() if a["image_id"] == iid}
        want_colors = {list(COLORS).index(a["attributes"]["color"]) + 1 for a in anns.values() if a["image_id"] == iid}
        got_shapes = set(np.unique(data.labels[n, shape_k].numpy())) - {0}
        got_colors = set(np.unique(data.labels[n, color_k].numpy())) - {0}
        assert got_shapes <= want_shapes and got_colors <= want_colors
        assert (data.labels[n] == 0).any()  # some background survives
        # foreground is the same pixels for every attribute
        fg = data.labels[n] > 0
        assert torch.equal(fg[0], fg[1]) and torch.equal(fg[0], fg[3])
    assert any(len(set(np.unique(data.labels[n, shape_k].numpy())) - {0}) > 0 for n in range(len(train_ids)))


def test_a_few_steps_lower_the_loss(synth):
    torch.manual_seed(0)
    data = load_attribute_data(synth, "synthref", "unc", "train", 64)
    model = AttributeSegmenter(TINY.backbone, 64)
    logs = []
    pretrain(model, data, PretrainParams(steps=40, batch_size=4, lr=2e-3, warmup_steps=5, log_every=10),
             log=logs.append)
    losses = [float(line.split(" loss ")[1].split()[0]) for line in logs]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0], logs


def test_cli_writes_weights_the_models_load(synth, tmp_path, capsys):
    out = tmp_path / "swin.safetensors"
    assert main(["pretrain", "--data-root", str(synth), "--steps", "2", "--batch-size", "2",
                 "--limit", "3", "--out", str(out), "--device", "cpu"]) == 0
    with safe_open(str(out), framework="pt") as f:
        meta = json.loads(f.metadata()["meta"])
    assert meta["steps"] == 2 and meta["images"] == 3 and "hardware" in meta
    weights = load_file(str(out))
    for name in ("lgformer-compact", "lqmformer-compact"):
        model = build_model(with_overrides(get_config(name), {"backbone.pretrained": str(out)}))
        own = model.backbone.swin.state_dict()
        assert weights.keys() <= own.keys()
        assert all(torch.equal(own[k], v) for k, v in weights.items())


def test_cli_refuses_data_without_attributes(synth, tmp_path, capsys):
    import shutil

    root = tmp_path / "plain"
    shutil.copytree(synth, root)
    inst = json.loads((root / "synthref/instances.json").read_text())
    for a in inst["annotations"]:
        a.pop("attributes")
    (root / "synthref/instances.json").write_text(json.dumps(inst))
    out = tmp_path / "swin.safetensors"
    assert main(["pretrain", "--data-root", str(root), "--steps", "1", "--out", str(out)]) == 2
    assert "no known color" in capsys.readouterr().err
    assert not out.exists()


def test_object_logits_average_each_objects_pixels():
    from rismodel.training.pretrain import object_logits

    logits = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 8.0]]]])  # [1, 2, 2, 2]
    instances = torch.tensor([[[1, 1], [0, 2]]], dtype=torch.uint8)
    pooled, present = object_logits(logits, instances, 3)
    assert present.tolist() == [[True, True, False]]
    assert pooled[0, 0].tolist() == [1.5, 0.0] and pooled[0, 1].tolist() == [4.0, 8.0]
    assert pooled[0, 2].tolist() == [0.0, 0.0]
