"""The training loop: DDP, bf16 autocast, AdamW + poly schedule, checkpoints, resume, progress.

One step = one batch per process -> ``model(images, input_ids, attention_mask)`` ->
``model.loss(outputs, masks, has_target)["loss"]`` -> backward -> (clip) -> AdamW -> scheduler.
A non-finite loss (or gradient norm) on any rank stops every rank before the weights change,
without writing a checkpoint, so the last good one stays as it was.

Exact resume: weights, optimizer, scheduler, step, epoch, position in the epoch and the RNG
states of every rank are saved together (:mod:`.state`); the data order and per-item randomness
depend only on (seed, epoch, index) (:mod:`.data`). Resuming therefore replays the same batches
with the same dropout masks as a run that was never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..checkpoint import load_state, load_weights_into, save_checkpoint
from ..config import ModelConfig
from ..fileio import WriteError, atomic_write_json, atomic_write_text, describe_write_error
from . import distributed as D
from .config import TrainConfig, train_config_to_dict
from .data import ITEM_ERROR, DataError, ResumableSampler, SeededItems, collate_or_error
from .optim import build_optimizer, build_scheduler
from .state import (
    FINAL,
    StateError,
    capture_rng,
    load_train_state,
    read_latest,
    restore_rng,
    save_training_checkpoint,
)

# What rismodel.data.dataset.collate yields (and what the model consumes).
BATCH_KEYS = ("image", "input_ids", "attention_mask", "mask", "has_target")


class TrainingError(RuntimeError):
    """Training cannot start or continue (bad resume folder, divergence); the message says why."""


class TrainingDiverged(TrainingError):
    pass


@dataclass
class TrainResult:
    step: int
    total_steps: int
    samples_seen: int
    wall_time_s: float
    final_loss: float | None
    checkpoint: Path | None  # the last checkpoint written (None on non-main ranks)


def hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU {name}, {torch.get_num_threads()} threads"


def _autocast(device: torch.device, amp: str):
    use = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _to_device(batch: dict, device: torch.device) -> dict:
    if ITEM_ERROR in batch:
        raise DataError(f"{batch[ITEM_ERROR]}; fix or remove it from the data")
    missing = [k for k in BATCH_KEYS if k not in batch]
    if missing:
        raise TrainingError(f"the data loader's batches lack {', '.join(missing)}")
    return {k: batch[k].to(device, non_blocking=True) for k in BATCH_KEYS}


class _MetricsLog:
    """metrics.jsonl: one JSON object per log step, appended (a log, not state: on resume the
    lines after the resumed step, from the interrupted run, are dropped)."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        if resume_step is not None and path.is_file():
            keep = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)["step"] <= resume_step:
                        keep.append(line)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by the interruption
            atomic_write_text(path, "".join(k + "\n" for k in keep))
        elif resume_step is None:
            path.unlink(missing_ok=True)

    def write(self, record: dict) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
        except OSError as e:  # a full disk: stop with the last good checkpoint named
            raise _stopped_writing(WriteError(describe_write_error(self.path, e)),
                                   f"training stopped at step {record['step']}.", self.path.parent) from e


def prepare_run_folder(out: str | os.PathLike) -> Path:
    """Create the run folder, or say clearly why it cannot be one (a file, read-only, ...)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"the run folder {out} exists and is not a folder; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainingError(f"cannot create the run folder {out}: {e.strerror or e}") from e
    if not os.access(out, os.W_OK | os.X_OK):  # also catches a read-only file system, even as root
        raise TrainingError(f"the run folder {out} is not writable (read-only file system or no "
                            "permission); choose another --out")
    return out


def _stopped_writing(e: Exception, what: str, out: Path) -> TrainingError:
    return TrainingError(f"{e}; {what} Last good checkpoint: {_describe_latest(out)}. Free some "
                         "space (or fix the folder) and continue with --resume.")


def train(cfg: TrainConfig, model: torch.nn.Module, model_cfg: ModelConfig, dataset, collate_fn=None,
          *, ctx: D.DistContext | None = None, resume: bool = False, stop_at: int | None = None,
          meta: dict | None = None, validate: Callable[[torch.nn.Module], dict] | None = None
          ) -> TrainResult:
    """Train ``model`` on ``dataset`` (items -> ``collate_fn`` -> dict of :data:`BATCH_KEYS`).

    ``stop_at``: checkpoint and return after this step, as if interrupted there (time-boxed jobs,
    tests). ``meta``: extra provenance stored in every checkpoint (dataset name, init checkpoint).
    ``validate(model) -> metrics``: run on the main process every ``train.val_every`` steps.
    """
    p = cfg.train
    ctx = ctx or D.setup(p.device)
    out = Path(p.out)
    device = ctx.device
    if ctx.is_main:
        prepare_run_folder(out)
    if len(dataset) == 0:
        raise TrainingError("the training set is empty")

    # Fresh runs reseed per rank after the model is built, so dropout differs across ranks.
    torch.manual_seed(p.seed + ctx.rank)
    model.to(device)
    model.train()
    net = model
    if ctx.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=p.ddp_find_unused)
    optimizer = build_optimizer(model, p)
    if p.batch_size % ctx.world_size:
        raise TrainingError(f"train.batch_size {p.batch_size} (the global batch) does not divide over "
                            f"{ctx.world_size} processes")
    local_bs = p.batch_size // ctx.world_size
    sampler = ResumableSampler(dataset, ctx.world_size, ctx.rank, p.seed)
    steps_per_epoch = math.ceil(sampler.num_samples / local_bs)
    total = p.max_steps if p.max_steps is not None else p.epochs * steps_per_epoch
    scheduler = build_scheduler(optimizer, total, p)
    step = epoch = batch_in_epoch = samples_seen = 0
    wall_before = 0.0
    last_loss = None

    if not resume and (out / "latest.json").exists():
        raise TrainingError(f"{out} already holds a training run; continue it with --resume or "
                            "choose a new --out")
    latest = read_latest(out) if resume else None
    if resume and latest is None:
        raise TrainingError(f"--resume: no checkpoint in {out} (no {out / 'latest.json'})")
    if latest is not None:
        state = load_train_state(latest["state"])
        load_weights_into(model, model_cfg, load_state(latest["weights"]), str(latest["weights"]))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        samples_seen, wall_before, last_loss = state["samples_seen"], state["wall_time_s"], state["loss"]
        if state["total_steps"] != total:
            raise TrainingError(f"--resume: the run was planned for {state['total_steps']} steps, "
                                f"the config now gives {total}; the schedule would change")
        rngs = state["rng"]
        if len(rngs) == ctx.world_size:
            restore_rng(rngs[ctx.rank])
        elif ctx.is_main:
            print(f"warning: resumed on {ctx.world_size} processes, saved on {len(rngs)}: "
                  "the data order and random streams will differ from an uninterrupted run")
    if step >= total:
        raise TrainingError(f"{out} already finished ({step} of {total} steps); use a new --out")

    if ctx.is_main:
        atomic_write_json(out / "train_config.json", train_config_to_dict(cfg), indent=2)
    log = _MetricsLog(out / "metrics.jsonl", step if latest is not None else None) if ctx.is_main else None

    def loader_at(epoch: int, start_batch: int) -> DataLoader:
        sampler.set_position(epoch, start_batch * local_bs)
        # Own generator: creating an iterator must not draw from the global torch RNG (it would
        # shift dropout after a resume); worker seeds depend on (seed, epoch) only.
        gen = torch.Generator().manual_seed(p.seed * 1_000_003 + epoch)
        return DataLoader(SeededItems(dataset, p.seed), batch_size=local_bs, sampler=sampler,
                          num_workers=p.num_workers, collate_fn=collate_or_error(collate_fn),
                          pin_memory=device.type == "cuda", generator=gen)

    if p.num_workers:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    batches = iter(loader_at(epoch, batch_in_epoch))
    base_meta = {**(meta or {}), "world_size": ctx.world_size, "hardware": hardware(),
                 "torch": torch.__version__, "batch_size": p.batch_size,
                 "total_steps": total}
    end = min(total, stop_at) if stop_at is not None else total
    bar = None
    if ctx.is_main and p.progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="train", dynamic_ncols=True)
    t_start = time.perf_counter()
    start_step = step
    window: dict[str, float] = {}
    window_n = window_samples = 0
    t_window = time.perf_counter()
    ckpt_path = None

    def checkpoint(loss: float | None) -> Path | None:
        rngs = D.gather(ctx, capture_rng())
        if not ctx.is_main:
            return None
        wall = wall_before + time.perf_counter() - t_start
        meta_now = {**base_meta, "steps": step, "epoch": epoch, "samples_seen": samples_seen,
                    "wall_time_s": round(wall, 1), "final_loss": loss}
        try:
            return save_training_checkpoint(out, step, model, model_cfg, meta_now, {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "epoch": epoch, "batch_in_epoch": batch_in_epoch, "samples_seen": samples_seen,
                "wall_time_s": wall, "loss": loss, "total_steps": total, "rng": rngs,
                "world_size": ctx.world_size})
        except WriteError as e:  # full disk: the previous pair and latest.json are untouched
            raise _stopped_writing(e, f"training stopped at step {step} without its checkpoint.", out) from e

    try:
        while step < end:
            try:
                batch = next(batches)
            except StopIteration:  # epoch ended: the next one has its own order
                epoch, batch_in_epoch = epoch + 1, 0
                batches = iter(loader_at(epoch, 0))
                batch = next(batches)
            batch = _to_device(batch, device)
            with _autocast(device, p.amp):
                outputs = net(batch["image"], batch["input_ids"], batch["attention_mask"])
                losses = model.loss(outputs, batch["mask"], batch["has_target"])
            loss = losses["loss"]
            bad = not bool(torch.isfinite(loss.detach()))
            if D.any_true(ctx, bad):
                raise TrainingDiverged(
                    f"the loss became {float(loss.detach()) if bad else 'non-finite on another rank'} "
                    f"at step {step + 1}; stopped without saving. Last good checkpoint: "
                    f"{_describe_latest(out)}. Try a lower train.lr or train.grad_clip.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if p.grad_clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
                if D.any_true(ctx, not bool(torch.isfinite(norm))):
                    raise TrainingDiverged(f"the gradient norm became non-finite at step {step + 1}; "
                                           f"stopped without saving. Last good checkpoint: "
                                           f"{_describe_latest(out)}.")
            optimizer.step()
            lrs = {f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups}  # used by this step
            scheduler.step()
            step += 1
            batch_in_epoch += 1
            seen = int(batch["image"].shape[0]) * ctx.world_size
            samples_seen += seen
            window_samples += seen
            for k, v in losses.items():
                window[k] = window.get(k, 0.0) + float(v.detach())
            window_n += 1
            if bar is not None:
                bar.update(1)
            if step % p.log_every == 0 or step == end:
                avg = D.mean_over_ranks(ctx, {k: v / window_n for k, v in window.items()})
                last_loss = avg["loss"]
                now = time.perf_counter()
                rate = window_samples / max(now - t_window, 1e-9)
                per_step = (now - t_start) / max(step - start_step, 1)
                record = {"step": step, "epoch": epoch, **{k: round(v, 6) for k, v in avg.items()},
                          **lrs,
                          "samples_per_s": round(rate, 2), "eta_s": round(per_step * (total - step), 1),
                          "samples_seen": samples_seen}
                if log is not None:
                    log.write(record)
                    msg = (f"step {step}/{total} loss {last_loss:.4f} "
                           + " ".join(f"{k} {v:.4f}" for k, v in avg.items() if k != "loss")
                           + f" lr {lrs.get('lr_heads', next(iter(lrs.values()))):.3g} {rate:.1f} samples/s "
                           f"ETA {_hms(record['eta_s'])}")
                    (bar.write if bar is not None else print)(msg)
                    if bar is not None:
                        bar.set_postfix(loss=f"{last_loss:.4f}")
                window, window_n, window_samples, t_window = {}, 0, 0, now
            if validate is not None and p.val_every and step % p.val_every == 0 and ctx.is_main:
                model.eval()
                # Isolated RNG: validating must not change the training run's random streams.
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    val = validate(model)
                model.train()
                log.write({"step": step, "kind": "val", **val})
                (bar.write if bar is not None else print)(
                    f"step {step} validation: " + " ".join(f"{k} {v:.4f}" for k, v in val.items()
                                                          if v is not None))
            if step % p.checkpoint_every == 0 or step == end:
                ckpt_path = checkpoint(last_loss) or ckpt_path
    finally:
        if bar is not None:
            bar.close()
    wall = wall_before + time.perf_counter() - t_start
    if step == total and ctx.is_main:
        final_meta = {**base_meta, "steps": step, "epoch": epoch, "samples_seen": samples_seen,
                      "wall_time_s": round(wall, 1), "final_loss": last_loss}
        try:
            save_checkpoint(out / FINAL, model, model_cfg, final_meta)
        except WriteError as e:
            raise _stopped_writing(e, f"the final weights {out / FINAL} were not written.", out) from e
        ckpt_path = out / FINAL
    D.barrier(ctx)
    return TrainResult(step, total, samples_seen, wall, last_loss, ckpt_path)


def _describe_latest(out: Path) -> str:
    try:
        latest = read_latest(out)
    except StateError as e:  # reporting only; the divergence is the error that matters
        return f"unreadable ({e})"
    return f"{latest['weights']} (step {latest['step']})" if latest else "none yet"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
