"""Two CPU processes under torchrun (Gloo): DDP training completes, rank 0 alone logs and saves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rismodel.checkpoint import read_header
from rismodel.data.synth import generate
from rismodel.training.state import load_train_state, read_latest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    generate(tmp_path / "synth", 6, seed=1, size_range=(64, 72))
    out = tmp_path / "run"
    sets = ["model.input.image_size=64", "model.backbone.window_size=4", "model.backbone.pretrained=null", "model.num_queries=4",
            f"data.data_root={tmp_path / 'synth'}", "train.max_steps=3", "train.batch_size=4",
            "train.log_every=1", "train.checkpoint_every=2", "train.progress=false",
            "train.device=cpu", "train.warmup_steps=0"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "rismodel.cli", "train", "--config", str(CONFIGS / "lqmformer-compact.yaml"),
           "--out", str(out)] + [x for s in sets for x in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: 3 steps") == 1  # only rank 0 reports
    _, meta = read_header(out / "model.safetensors")
    assert meta["world_size"] == 2 and meta["samples_seen"] == 12 and meta["batch_size"] == 4
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # one writer
    state = load_train_state(read_latest(out)["state"])
    assert len(state["rng"]) == 2  # each rank's RNG, for an exact resume
    assert not state["rng"][0]["torch"].equal(state["rng"][1]["torch"])  # ranks draw different dropout
