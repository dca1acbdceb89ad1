"""A run killed with SIGKILL loses at most checkpoint_every steps and resumes exactly."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


def _launch(out, max_steps, resume):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(HERE / "run_tiny_training.py"), str(out), str(max_steps)]
                            + (["resume"] if resume else []), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _check_pointer(out):
    """latest.json names a complete pair that loads (or there is none yet)."""
    from rismodel.checkpoint import load_state
    from rismodel.training.state import load_train_state

    latest = read_latest(out)
    if latest is not None:
        assert load_train_state(latest["state"])["step"] == latest["step"]
        load_state(latest["weights"])
    return latest


def _straight_final(tmp_path, steps):
    cfg = tiny_train_config(tmp_path / "straight", max_steps=steps, batch_size=4, lr=0.01, log_every=1,
                            checkpoint_every=4)
    torch.manual_seed(0)
    model = TinyRIS()
    train(cfg, model, TINY_CFG, TinyData())
    return params_of(model)


def _latest_step(out) -> int:
    """The step latest.json names, read while the run is alive. Not read_latest(): that also checks
    the named files exist, and a live run may replace the pair (and delete the old one) between
    reading the pointer and checking it; only a stopped run's pointer must hold."""
    try:
        return int(json.loads((out / "latest.json").read_text())["step"])
    except (OSError, ValueError, KeyError):  # not written yet, or caught mid-rename
        return 0


def test_kill_9_at_random_moments_then_resume_ends_exactly_as_an_uninterrupted_run(tmp_path):
    import random

    from rismodel.checkpoint import load_state

    kills = int(os.environ.get("RISMODEL_FAULT_KILLS", "2"))
    rng = random.Random(13)
    out, steps = tmp_path / "run", 80
    killed = 0
    for attempt in range(kills + 1):
        proc = _launch(out, steps, resume=attempt > 0)
        if attempt < kills:
            # Wait for the process to reach training (a checkpoint beyond the last one), then a
            # random moment more: mid-step, mid-checkpoint, mid-log line.
            before = _latest_step(out)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if _latest_step(out) > before:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            if proc.poll() is None:
                proc.kill()
                killed += 1
            proc.wait()
            latest = _check_pointer(out)
            # on a quiet machine the run can finish before the kill lands
            if proc.returncode == 0 or (latest or {}).get("step", 0) >= steps:
                break
        else:
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderr.decode()[-2000:]
    assert killed >= 1
    resumed = load_state(out / "model.safetensors")
    straight = _straight_final(tmp_path, steps)
    assert set(resumed) >= {k for k in straight if not k.startswith("text_encoder")}
    assert all(torch.equal(resumed[k], straight[k]) for k in resumed)
    steps_logged = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == list(range(1, steps + 1))
    leftovers = [p.name for p in out.rglob("*.tmp")]
    assert len(leftovers) <= 1  # at most the last kill's, removed by the next save in that folder


def test_a_full_disk_during_a_checkpoint_keeps_the_last_good_one_and_resume_is_exact(tmp_path, monkeypatch):
    from training_fixtures import FullDisk

    from rismodel.training.engine import TrainingError

    out = tmp_path / "run"
    _tiny(out, stop_at=4)
    good = json.loads((out / "latest.json").read_text())
    disk = FullDisk(monkeypatch, "step-0000008.state.pt")
    with pytest.raises(TrainingError) as e:
        _tiny(out, stop_at=12, resume=True)
    assert disk.hits == 1
    assert "no space left on the disk" in str(e.value) and "step 4" in str(e.value)
    assert "--resume" in str(e.value)
    assert json.loads((out / "latest.json").read_text()) == good and _check_pointer(out)["step"] == 4
    assert not list((out / "checkpoints").glob(".*.tmp"))  # the failed write removed its temp
    monkeypatch.undo()  # space freed
    resumed = _tiny(out, stop_at=12, resume=True)
    straight = _tiny(tmp_path / "straight", stop_at=12)
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_the_run_folder_must_be_a_writable_folder(tmp_path):
    from rismodel.training.engine import TrainingError, prepare_run_folder

    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(TrainingError, match="is not a folder"):
        prepare_run_folder(f)
    with pytest.raises(TrainingError, match="cannot create the run folder"):
        prepare_run_folder(f / "run")
    assert prepare_run_folder(tmp_path / "new" / "run").is_dir()
