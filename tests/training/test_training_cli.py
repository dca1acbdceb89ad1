"""``rismodel train`` end to end on a tiny SynthRef: train, resume, fine-tune from a COCO export,
and the errors a user can make."""

import json
from pathlib import Path

import pytest
import torch

from rismodel.checkpoint import load_checkpoint, read_header
from rismodel.cli import main
from rismodel.data.synth import generate
from rismodel.imageio import load_image
from rismodel.predictor import Predictor

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# A tiny LQMFormer (64 px, window 4) so that a step takes well under a second on one core.
# The tiny runs start from random weights, whatever the config file says.
TINY = ["model.input.image_size=64", "model.backbone.window_size=4", "model.backbone.pretrained=null", "model.num_queries=6",
        "train.batch_size=2", "train.log_every=1", "train.warmup_steps=0", "train.num_workers=0",
        "train.progress=false", "train.device=cpu"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root, 8, seed=0, size_range=(64, 80))
    return root


def _train(out, synth, *extra, config="lqmformer-compact.yaml", resume=False):
    args = ["train", "--out", str(out)] + (["--resume"] if resume else [])
    if config:
        args += ["--config", str(CONFIGS / config)]
    for item in TINY + [f"data.data_root={synth}", *extra]:
        args += ["--set", item]
    return main(args)


def _coco_export(synth, path, split="train"):
    """A COCO-with-expressions file (the app's export format) made from SynthRef's annotations."""
    inst = json.loads((synth / "synthref/instances.json").read_text())
    for i, ann in enumerate(inst["annotations"]):
        ann["expressions"] = [f"shape number {i}"]
    for im in inst["images"]:
        im["split"] = split
    path.write_text(json.dumps(inst))
    return path


def test_train_resume_and_finetune_from_coco(tmp_path, synth, capsys):
    run = tmp_path / "run"
    assert _train(run, synth, "train.max_steps=4", "train.checkpoint_every=2",
                  "train.log_every=1", "train.val_every=2", "train.val_limit=3") == 0
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in records if r.get("kind") == "val"]
    assert [r["step"] for r in vals] == [2, 4]  # generalised metrics: synthref grefs
    assert all(0.0 <= r["val_gIoU"] <= 1.0 for r in vals)
    _, cfg, meta = load_checkpoint(run / "model.safetensors")
    pred = Predictor.load(str(run / "model.safetensors"), device="cpu")  # what the app loads
    pred.set_image(load_image(synth / "images/synth_000000.png"))
    w, h = pred.image_size
    assert pred.predict("the red circle").mask.shape == (h, w)
    assert cfg.input.image_size == 64 and cfg.num_queries == 6
    assert meta["dataset"] == "synthref(unc):train" and meta["steps"] == 4 and meta["samples_seen"] == 8
    assert meta["final_loss"] > 0 and "hardware" in meta and "wall_time_s" in meta
    assert "done: 4 steps" in capsys.readouterr().out

    # Resume a finished run: a clear error instead of silently overwriting it.
    assert _train(run, synth, "train.max_steps=4", config=None, resume=True) == 2
    assert "already finished" in capsys.readouterr().err
    assert main(["train", "--out", str(run)]) == 2
    assert "--config FILE is required" in capsys.readouterr().err

    coco = _coco_export(synth, tmp_path / "export.json")
    ft = tmp_path / "ft"
    args = ["train", "--config", str(CONFIGS / "lqmformer-compact.yaml"), "--init",
            str(run / "model.safetensors"), "--out", str(ft)]
    for item in TINY + ["train.max_steps=2", "data.format=coco", f"data.coco_file={coco}",
                        f"data.images_dir={synth / 'images'}"]:
        args += ["--set", item]
    assert main(args) == 0
    _, ft_meta = read_header(ft / "model.safetensors")
    assert ft_meta["init"] == str(run / "model.safetensors") and ft_meta["dataset"].startswith("coco:")

    # Fine-tuning errors: each names the problem.
    def fails(*extra, message):
        rc = main(args[:-1] + [args[-1]] + [x for e in extra for x in ("--set", e)])
        assert rc == 2
        assert message in capsys.readouterr().err

    fails("model.num_queries=9", message="do not match")  # override that no longer fits the weights
    fails(f"data.coco_file={tmp_path / 'nope.json'}", message="nope.json: file not found")
    fails(f"data.images_dir={tmp_path}", message="images of")  # images not where the file says
    fails("data.split=val", message="no training samples")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    args[args.index("--init") + 1] = str(bad)
    fails(message="--init:")


def test_resume_from_the_run_folder_alone(tmp_path, synth, capsys):
    run = tmp_path / "run"
    from rismodel.training.state import read_latest

    assert _train(run, synth, "train.max_steps=3", "train.checkpoint_every=2") == 0
    latest_before = json.loads((run / "latest.json").read_text())
    assert latest_before["step"] == 3
    # Extend: the stored config is used; a changed step budget is refused (schedule would change).
    assert main(["train", "--resume", "--out", str(run), "--set", "train.max_steps=5"]) == 2
    assert "planned for 3 steps" in capsys.readouterr().err
    assert read_latest(run)["step"] == 3


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path, synth, capsys):
    import shutil

    from rismodel.checkpoint import load_state

    run = tmp_path / "run"
    assert _train(run, synth, "train.max_steps=2", "train.checkpoint_every=2") == 0
    expected = load_state(run / "model.safetensors")
    # What a kill during the first steps leaves: the config and a log, no checkpoint.
    shutil.rmtree(run / "checkpoints")
    for name in ("latest.json", "model.safetensors"):
        (run / name).unlink()
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "no checkpoint yet" in err and "starting over from step 0" in err
    again = load_state(run / "model.safetensors")
    assert all(torch.equal(again[k], expected[k]) for k in expected)  # the same run, from step 0
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
