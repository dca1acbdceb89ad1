"""Engine: loss goes down, exact resume, NaN stop keeps the last good checkpoint, param groups."""

import json

import pytest
import torch
from training_fixtures import TINY_CFG, TinyData, TinyRIS, params_of, tiny_train_config

from rismodel.checkpoint import load_state, read_header
from rismodel.training.config import TrainConfigError
from rismodel.training.engine import TrainingDiverged, TrainingError, train
from rismodel.training.optim import build_optimizer, poly_factor
from rismodel.training.state import load_train_state, read_latest


def test_a_few_steps_lower_the_loss_and_write_loadable_files(tmp_path):
    cfg = tiny_train_config(tmp_path / "run", max_steps=40, batch_size=4, lr=0.02, log_every=5,
                            checkpoint_every=20)
    torch.manual_seed(0)
    res = train(cfg, TinyRIS(), TINY_CFG, TinyData(), meta={"dataset": "tiny"})
    records = [json.loads(x) for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(5, 41, 5))
    assert records[-1]["loss"] < 0.7 * records[0]["loss"]
    assert {"bce", "samples_per_s", "eta_s", "lr_heads"} <= set(records[0])
    assert records[-1]["lr_heads"] < records[0]["lr_heads"]  # poly decay
    # 10 samples, batches of 4: epochs are 4 + 4 + 2; 13 epochs and one batch of 4.
    assert res.step == 40 and res.samples_seen == 134
    _, meta = read_header(tmp_path / "run/model.safetensors")
    assert meta["dataset"] == "tiny" and meta["steps"] == 40 and meta["samples_seen"] == 134
    assert meta["final_loss"] == pytest.approx(records[-1]["loss"])
    assert meta["torch"] == torch.__version__ and meta["hardware"].startswith("CPU")
    latest = read_latest(tmp_path / "run")
    assert latest["step"] == 40
    assert len(list((tmp_path / "run/checkpoints").iterdir())) == 2  # the step-20 pair was dropped
    state = load_train_state(latest["state"])  # weights_only=True inside
    assert state["epoch"] == 13 and isinstance(state["rng"][0]["numpy"][1], list)


def _run(out, stop_at=None, resume=False, seed=0):
    cfg = tiny_train_config(out, max_steps=12, batch_size=4, lr=0.01, log_every=1, checkpoint_every=5)
    torch.manual_seed(seed)
    model = TinyRIS()
    train(cfg, model, TINY_CFG, TinyData(), stop_at=stop_at, resume=resume)
    return model


def test_resume_continues_exactly(tmp_path):
    straight = params_of(_run(tmp_path / "a"))
    _run(tmp_path / "b", stop_at=5)  # stops mid-epoch (3 batches per epoch)
    assert read_latest(tmp_path / "b")["step"] == 5
    resumed = _run(tmp_path / "b", resume=True, seed=123)  # other init: the checkpoint must win
    after = params_of(resumed)
    assert all(torch.equal(straight[k], after[k]) for k in straight), "resume diverged"
    a = [json.loads(x)["loss"] for x in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x)["loss"] for x in (tmp_path / "b/metrics.jsonl").read_text().splitlines()]
    assert a == b  # same batches, same dropout, same logged losses


def test_resume_without_checkpoint_and_fresh_run_over_old_one_are_clear_errors(tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint"):
        _run(tmp_path / "empty", resume=True)
    _run(tmp_path / "done", stop_at=2)
    before = (tmp_path / "done/latest.json").read_text()
    with pytest.raises(TrainingError, match="already holds a training run"):
        _run(tmp_path / "done")
    assert (tmp_path / "done/latest.json").read_text() == before


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_train_config(tmp_path / "run", max_steps=20, batch_size=4, checkpoint_every=3, log_every=1)
    torch.manual_seed(0)
    model = TinyRIS(nan_at_step=8)
    with pytest.raises(TrainingDiverged, match=r"nan at step 8.*step-0000006"):
        train(cfg, model, TINY_CFG, TinyData())
    latest = read_latest(tmp_path / "run")
    assert latest["step"] == 6
    saved = load_state(latest["weights"])
    now = params_of(model)
    # Nothing was applied after step 7 and nothing was saved after step 6.
    assert all(torch.isfinite(v).all() for v in now.values())
    assert not all(torch.equal(saved[k], now[k]) for k in saved)
    assert not (tmp_path / "run/model.safetensors").exists()
    assert load_train_state(latest["state"])["step"] == 6


def test_param_groups_split_backbone_and_skip_frozen(tmp_path):
    cfg = tiny_train_config(tmp_path, max_steps=10, lr=1e-3, backbone_lr_mult=0.1)
    model = TinyRIS()
    opt = build_optimizer(model, cfg.train)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["backbone"]["lr"] == pytest.approx(1e-4) and groups["heads"]["lr"] == pytest.approx(1e-3)
    assert groups["heads_no_decay"]["weight_decay"] == 0.0 and groups["heads"]["weight_decay"] == 0.01
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(model.text_encoder.weight) not in ids
    assert len(ids) == sum(1 for p in model.parameters() if p.requires_grad)


def test_presence_lr_mult_gives_the_presence_head_its_own_group(tmp_path):
    from rismodel.config import with_overrides
    from rismodel.registry import build_model, get_config

    model = build_model(with_overrides(get_config("lgformer-compact"), {
        "backbone.depths": [1, 1, 1, 1], "input.image_size": 64, "pixel_decoder.num_layers": 1,
        "decoder_layers": 1, "presence": "mask", "backbone.pretrained": None}))
    same = {g["name"] for g in build_optimizer(model, tiny_train_config(tmp_path, max_steps=1).train).param_groups}
    assert same == {"backbone", "backbone_no_decay", "heads", "heads_no_decay"}  # older runs resume
    opt = build_optimizer(model, tiny_train_config(tmp_path, max_steps=1, lr=1e-3, presence_lr_mult=30).train)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["presence"]["lr"] == pytest.approx(3e-2) and groups["heads"]["lr"] == pytest.approx(1e-3)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in groups["presence"]["params"] + groups["presence_no_decay"]["params"]} == {
        n for n in names.values() if n.startswith("presence_head.")}
    with pytest.raises(TrainConfigError):
        tiny_train_config(tmp_path, max_steps=1, presence_lr_mult=-1)


def test_poly_schedule():
    assert poly_factor(0, 100, 0.9) == 1.0
    assert poly_factor(50, 100, 0.9) == pytest.approx(0.5 ** 0.9)
    assert poly_factor(100, 100, 0.9) == 0.0
    assert poly_factor(4, 100, 0.9, warmup_steps=10) == pytest.approx(0.5)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_training_item_stops_with_its_message_not_a_worker_traceback(tmp_path, workers):
    from rismodel.training.data import DataError

    class OneBad(TinyData):
        def __getitem__(self, i):
            if i == 3:  # what RefSample.load_image raises for an image whose size is not the annotation's
                raise ValueError("img3.png: image is 64x48 but the annotation says 80x60")
            return super().__getitem__(i)

    cfg = tiny_train_config(tmp_path / "run", max_steps=10, batch_size=10, num_workers=workers)
    with pytest.raises(DataError) as e:
        train(cfg, TinyRIS(), TINY_CFG, OneBad())
    assert "training item 3: img3.png: image is 64x48" in str(e.value)
    assert "Traceback" not in str(e.value)
