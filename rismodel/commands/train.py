HELP = ("Train or fine-tune a model from a YAML config (single process, or one process per device "
        "under torchrun); --resume continues a stopped run exactly.")


def add_arguments(p):
    from ..cli import existing_file

    p.add_argument("--config", metavar="FILE", type=existing_file, help="training config (YAML); optional with --resume "
                   "(the run folder's train_config.json is used)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--init", metavar="CHECKPOINT", type=existing_file, help="start from these weights (fine-tuning); the "
                   "model config comes from the checkpoint, model.* overrides still apply")
    p.add_argument("--out", metavar="DIR", help="run folder (overrides train.out)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. train.max_steps=100 or model.decoder_layers=3 "
                   "(repeatable)")


def _load_config(args):
    import json
    from pathlib import Path

    from ..cli import UserError
    from ..training.config import (
        TrainConfigError,
        config_from_mapping,
        load_train_config,
        merge_layer,
        parse_overrides,
        validate,
    )

    overrides = list(args.overrides) + ([f"train.out={args.out}"] if args.out else [])
    if args.config is None:
        if not (args.resume and args.out):
            raise UserError("--config FILE is required (or --resume --out DIR to continue a run)")
        stored = Path(args.out) / "train_config.json"
        if not stored.is_file():
            raise UserError(f"--resume: {stored} not found; is {args.out} a training run folder?")
        try:
            data = merge_layer(json.loads(stored.read_text(encoding="utf-8")), parse_overrides(overrides))
            cfg = config_from_mapping(data)
            validate(cfg)
        except (ValueError, TrainConfigError) as e:
            raise UserError(f"{stored}: {e}") from e
        return cfg
    try:
        return load_train_config(args.config, overrides)
    except TrainConfigError as e:
        raise UserError(str(e)) from e


def _build_model(cfg, init, resume):
    import dataclasses

    from ..checkpoint import CheckpointError, load_state, load_weights_into, read_header
    from ..cli import UserError
    from ..registry import build_model
    from ..training.config import TrainConfigError, resolve_model_config

    init_cfg = None
    if init:
        try:
            init_cfg, _ = read_header(init)
        except CheckpointError as e:
            raise UserError(f"--init: {e}") from e
    try:
        model_cfg = resolve_model_config(cfg, init_cfg)
    except TrainConfigError as e:
        raise UserError(str(e)) from e
    build_cfg = model_cfg
    if init or resume:  # stored weights replace the pretrained backbone: never fetch it
        build_cfg = dataclasses.replace(model_cfg, backbone=dataclasses.replace(model_cfg.backbone,
                                                                                 pretrained=None))
    try:
        model = build_model(build_cfg)
    except (ValueError, TypeError, RuntimeError, OSError) as e:  # TypeError: a wrongly typed override
        hint = ""
        if build_cfg.backbone.pretrained and "not found" in str(e):
            hint = (" (the compact configs start from the Swin that `rismodel pretrain` writes; "
                    "see the README, or --set model.backbone.pretrained=null for random weights)")
        raise UserError(f"cannot build the {model_cfg.architecture} model: {e}{hint}") from e
    if init and not resume:
        try:
            load_weights_into(model, model_cfg, load_state(init), init)
        except CheckpointError as e:
            changed = ", ".join(sorted(cfg.model.overrides)) or "none"
            raise UserError(f"--init: {e} (model overrides given: {changed})") from e
    return model, model_cfg


def run(args) -> int:
    import sys

    import torch

    from ..checkpoint import CheckpointError
    from ..cli import UserError
    from ..training import distributed as D
    from ..training.data import DataError, build_ris_dataset, describe, load_samples, trained_on
    from ..training.engine import TrainingError, prepare_run_folder, train
    from ..training.state import StateError, read_latest

    cfg = _load_config(args)
    p = cfg.train
    out = prepare_run_folder(p.out)  # a file, a read-only folder: say so before any work
    if args.resume and read_latest(out) is None:
        if not (out / "train_config.json").is_file():
            raise UserError(f"--resume: {out} holds no training run (no train_config.json)")
        # Stopped before its first checkpoint: nothing to continue, so the run starts over (with
        # the same initial weights as a fresh run: the pretrained backbone is loaded again).
        print(f"--resume: {out} has no checkpoint yet (the run stopped before its first one); "
              "starting over from step 0", file=sys.stderr)
        args.resume = False
    if p.threads:
        torch.set_num_threads(p.threads)
    try:
        ctx = D.setup(p.device)
    except RuntimeError as e:
        raise UserError(str(e)) from e
    try:
        torch.manual_seed(p.seed)  # identical initial weights on every rank and every run
        model, model_cfg = _build_model(cfg, args.init, args.resume)
        try:
            samples = load_samples(cfg.data)
        except DataError as e:
            raise UserError(str(e)) from e
        dataset, collate = build_ris_dataset(samples, model_cfg, model.text_encoder.tokenize,
                                            augment=cfg.data.augment,
                                            shortest_prob=cfg.data.shortest_sentence_prob)
        if ctx.is_main:
            print(f"training {model_cfg.architecture} on {describe(cfg.data)}: {len(samples)} samples, "
                  f"{ctx.world_size} process(es) on {ctx.device}, out {p.out}")
        meta = {"dataset": describe(cfg.data), "num_samples": len(samples),
                "trained_on": trained_on(cfg.data, len(samples))}
        if args.init:
            meta["init"] = str(args.init)
        validate = None
        if p.val_every and ctx.is_main:
            from ..training.validation import make_validator

            try:
                validate = make_validator(cfg, model_cfg, ctx.device)
            except DataError as e:
                raise UserError(f"validation split '{p.val_split}': {e}") from e
        try:
            result = train(cfg, model, model_cfg, dataset, collate, ctx=ctx, resume=args.resume, meta=meta,
                           validate=validate)
        except (TrainingError, StateError, CheckpointError) as e:
            raise UserError(str(e)) from e
        if ctx.is_main:
            print(f"done: {result.step} steps, {result.samples_seen} samples, {result.wall_time_s:.0f} s, "
                  f"final loss {result.final_loss:.4f}; weights: {result.checkpoint}")
        return 0
    finally:
        D.cleanup(ctx)
