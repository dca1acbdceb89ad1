"""Training configuration: a YAML file -> frozen dataclasses, with ``base:`` inheritance.

A file has three sections (all optional, defaults below)::

    base: lgformer-compact.yaml     # resolved relative to this file, merged key by key
    model:
      name: lgformer-compact        # a registry name (ignored with --init: the checkpoint's config)
      decoder_layers: 3             # any other key overrides the model config (nested or dotted)
    data:
      format: refer                 # refer | grefcoco | coco
      data_root: data/refer
    train:
      batch_size: 32
      epochs: 40

Command-line overrides are ``section.key=value`` strings (``train.max_steps=100``,
``model.pixel_decoder.l2va=false``); the value is parsed as YAML. Optimisation defaults follow
LGFormer section 4.1 (AdamW, weight decay 0.01, polynomial decay).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..config import ModelConfig, with_overrides
from ..registry import get_config


class TrainConfigError(ValueError):
    """A training config file or override is wrong; the message names the key or file."""


@dataclass(frozen=True)
class ModelSpec:
    name: str | None = None
    # Dotted model-config keys -> values, e.g. {"pixel_decoder.l2va": False}.
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    format: Literal["refer", "grefcoco", "coco"] = "refer"
    data_root: str | None = None  # refer/grefcoco: folder holding <dataset>/refs(<split_by>).p ...
    dataset: str = "refcoco"
    split_by: str = "unc"
    split: str = "train"
    images_dir: str | None = None  # default: the loader's own (e.g. <data_root>/images/train2014)
    coco_file: str | None = None  # coco: a COCO-with-expressions JSON exported by the app
    augment: bool = False  # horizontal flip with left/right swapped in the text (papers: none)
    # Curriculum: train on a ref's shortest sentence with this probability (0 = a uniform choice,
    # as LAVT). SynthRef's shortest sentences name a shape alone, the hardest thing to ground.
    shortest_sentence_prob: float = 0.0
    # Image names that leave the images folder (absolute, ../) are refused unless this is true.
    allow_outside_images: bool = False


@dataclass(frozen=True)
class TrainParams:
    batch_size: int = 8  # global: split evenly over the torchrun processes
    max_steps: int | None = None  # exactly one of max_steps / epochs
    epochs: int | None = None
    lr: float = 5e-5  # LGFormer 4.1; LQMFormer uses 1e-5
    backbone_lr_mult: float = 1.0  # pretrained Swin + text encoder get lr * this
    presence_lr_mult: float = 1.0  # the presence head gets lr * this (optim.py: the mask-read gate)
    weight_decay: float = 0.01
    poly_power: float = 0.9  # lr = base * (1 - step / total) ** power, per step
    warmup_steps: int = 0  # linear warmup before the polynomial decay (0 = none, as the papers)
    grad_clip: float | None = None  # max global grad norm (None = no clipping, as the papers)
    amp: Literal["auto", "off", "bf16"] = "auto"  # auto = bf16 autocast on CUDA, off on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = 0
    threads: int | None = None  # torch.set_num_threads on CPU
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    progress: bool = True  # tqdm bar on the main process
    val_every: int = 0  # steps between validations on the main process (0 = none)
    val_split: str = "val"
    val_limit: int | None = 500  # expressions per validation (None = the whole split)
    # DDP: needed only by models with parameters that some steps do not use (none of ours).
    ddp_find_unused: bool = False
    out: str = "runs/train"


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainParams = field(default_factory=TrainParams)


SECTIONS = {"data": DataConfig, "train": TrainParams}


# ---------------------------------------------------------------- parsing helpers

def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against a field annotation; YAML's ``1e-4`` (a string) becomes a float."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except TrainConfigError as e:
                errors.append(str(e))
        raise TrainConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise TrainConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TrainConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TrainConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise TrainConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise TrainConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _build_section(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TrainConfigError(f"section '{where}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainConfigError(f"unknown key(s) in '{where}': {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(known))})")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merge_layer(base: dict, top: dict) -> dict:
    """Merge ``top`` over ``base``; a layer naming one of max_steps/epochs replaces the other."""
    base_train = base.get("train")
    top_train = top.get("train") or {}
    if isinstance(base_train, dict) and isinstance(top_train, dict):
        for mine, other in (("max_steps", "epochs"), ("epochs", "max_steps")):
            if top_train.get(mine) is not None and other not in top_train:
                base = {**base, "train": {k: v for k, v in base_train.items() if k != other}}
    return _deep_merge(base, top)


def parse_value(text: str) -> Any:
    """A ``--set`` value as YAML (``3`` -> int, ``false`` -> bool, ``[1, 2]`` -> list)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None and text.strip() not in ("null", "~", "") else value


def parse_overrides(items: list[str]) -> dict:
    """``["train.lr=1e-4", "model.decoder_layers=3"]`` -> nested dict ready to merge."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or "." not in key:
            raise TrainConfigError(f"override {item!r} must look like section.key=value "
                                   "(sections: model, data, train)")
        section, rest = key.split(".", 1)
        if section not in ("model", "data", "train"):
            raise TrainConfigError(f"override {item!r}: unknown section '{section}' "
                                   "(use model., data. or train.)")
        node = out.setdefault(section, {})
        parts = rest.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = parse_value(value)
    return out


# ---------------------------------------------------------------- files

def read_config_dict(path: str | os.PathLike, _seen: tuple = ()) -> dict:
    """The file's mapping with its ``base:`` chain merged in (child keys win)."""
    path = Path(path).resolve()
    if path in _seen:
        raise TrainConfigError(f"config files include each other in a loop: {path}")
    if not path.is_file():
        raise TrainConfigError(f"training config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TrainConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise TrainConfigError(f"{path} must hold a mapping with model/data/train sections")
    unknown = sorted(set(data) - {"base", "model", "data", "train"})
    if unknown:
        raise TrainConfigError(f"{path}: unknown top-level key(s) {', '.join(unknown)} "
                               "(expected base, model, data, train)")
    base = data.pop("base", None)
    if base is not None:
        data = merge_layer(read_config_dict(path.parent / str(base), _seen + (path,)), data)
    return data


def config_from_mapping(data: dict) -> TrainConfig:
    model = dict(data.get("model") or {})
    if not isinstance(model, dict):
        raise TrainConfigError("section 'model' must be a mapping")
    name = model.pop("name", None)
    return TrainConfig(
        model=ModelSpec(name=name, overrides=_flatten(model)),
        data=_build_section(DataConfig, data.get("data"), "data"),
        train=_build_section(TrainParams, data.get("train"), "train"),
    )


def load_train_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML file (or start from defaults when ``path`` is None) and apply ``--set`` items."""
    data = read_config_dict(path) if path is not None else {}
    if overrides:
        data = merge_layer(data, parse_overrides(overrides))
    cfg = config_from_mapping(data)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    t = cfg.train
    if (t.max_steps is None) == (t.epochs is None):
        raise TrainConfigError("set exactly one of train.max_steps and train.epochs")
    for name in ("batch_size", "checkpoint_every", "log_every"):
        if getattr(t, name) < 1:
            raise TrainConfigError(f"train.{name} must be >= 1, got {getattr(t, name)}")
    for name in ("max_steps", "epochs"):  # 0 is not "unset": it would divide by zero later
        if getattr(t, name) is not None and getattr(t, name) < 1:
            raise TrainConfigError(f"train.{name} must be >= 1, got {getattr(t, name)}")
    if (t.lr <= 0 or t.backbone_lr_mult < 0 or t.presence_lr_mult < 0 or t.weight_decay < 0
            or t.warmup_steps < 0):
        raise TrainConfigError("train.lr must be > 0; backbone_lr_mult, presence_lr_mult, weight_decay and "
                               "warmup_steps >= 0")
    if t.grad_clip is not None and t.grad_clip <= 0:
        raise TrainConfigError(f"train.grad_clip must be > 0 or null, got {t.grad_clip}")
    if t.val_every < 0 or (t.val_limit is not None and t.val_limit < 1):
        raise TrainConfigError("train.val_every must be >= 0 and train.val_limit >= 1 or null")
    if t.num_workers < 0:
        raise TrainConfigError("train.num_workers must be >= 0")
    if not 0.0 <= cfg.data.shortest_sentence_prob <= 1.0:
        raise TrainConfigError("data.shortest_sentence_prob must be in [0, 1], "
                               f"got {cfg.data.shortest_sentence_prob}")


def resolve_model_config(cfg: TrainConfig, init_config: ModelConfig | None = None) -> ModelConfig:
    """The registry model (or the ``--init`` checkpoint's config) with the file's overrides."""
    if init_config is not None:
        base = init_config
    elif cfg.model.name is None:
        raise TrainConfigError("no model: set model.name in the config (e.g. lgformer-compact) "
                               "or pass --init CHECKPOINT")
    else:
        try:
            base = get_config(cfg.model.name)
        except KeyError as e:
            raise TrainConfigError(str(e.args[0])) from None
    try:
        return with_overrides(base, cfg.model.overrides)
    except (ValueError, TypeError) as e:
        raise TrainConfigError(f"model override: {e}") from e


def train_config_to_dict(cfg: TrainConfig) -> dict:
    """JSON-ready; :func:`config_from_mapping` reads it back."""
    return {"model": {**({"name": cfg.model.name} if cfg.model.name else {}), **cfg.model.overrides},
            "data": dataclasses.asdict(cfg.data), "train": dataclasses.asdict(cfg.train)}
