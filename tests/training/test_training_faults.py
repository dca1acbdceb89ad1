"""A run killed with SIGKILL loses at most checkpoint_every steps and resumes exactly."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from training_fixtures import TINY_CFG, TinyData, TinyRIS, params_of, tiny_train_config

from rismodel.training.engine import train
from rismodel.training.state import read_latest

HERE = Path(__file__).parent


def _tiny(out, stop_at, resume=False):
    cfg = tiny_train_config(out, max_steps=100_000, batch_size=4, lr=0.01, log_every=1,
                            checkpoint_every=4)
    torch.manual_seed(0)
    model = TinyRIS()
    train(cfg, model, TINY_CFG, TinyData(), stop_at=stop_at, resume=resume)
    return params_of(model)


def test_killed_run_loses_at_most_checkpoint_every_steps(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(HERE / "run_tiny_training.py"), str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            latest = out / "latest.json"
            if latest.is_file() and json.loads(latest.read_text())["step"] >= 12:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        proc.kill()  # SIGKILL: no handler runs, whatever was being written stays half-written
        proc.wait()
    logged = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()
              if x.endswith("}")]
    saved = read_latest(out)["step"]  # the pointer always names a complete pair
    assert saved >= 12 and saved % 4 == 0
    assert 0 <= max(logged) - saved <= 4

    resumed = _tiny(out, stop_at=saved + 3, resume=True)
    straight = _tiny(tmp_path / "straight", stop_at=saved + 3)
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, saved + 4))  # the killed run's extra lines were dropped
