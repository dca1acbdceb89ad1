"""Every configs/*.yaml loads and builds; ablation files set what their table row says; the
loader's base/override rules and error messages."""

from pathlib import Path

import pytest
import torch

from rismodel.config import with_overrides
from rismodel.registry import build_model
from rismodel.training.config import TrainConfigError, load_train_config, resolve_model_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FILES = sorted(CONFIGS.glob("*.yaml"))
PRETRAINED_SWIN = "runs/pretrain/swin-compact-synthref.safetensors"

ABLATIONS = {
    "lgformer-t2-learnable-q1.yaml": {"query_type": "learnable", "num_queries": 1},
    "lgformer-t2-learnable-q10.yaml": {"query_type": "learnable", "num_queries": 10},
    "lgformer-t4-baseline.yaml": {"fusion": "pwam", "pixel_decoder.l2va": False, "v2la": False},
    "lgformer-t4-pwam.yaml": {"fusion": "pwam", "pixel_decoder.l2va": True, "v2la": True},
    "lgformer-t4-no-l2va.yaml": {"fusion": "vlba", "pixel_decoder.l2va": False, "v2la": True},
    "lgformer-t4-no-v2la.yaml": {"fusion": "vlba", "pixel_decoder.l2va": True, "v2la": False},
    "lgformer-t5-n3.yaml": {"decoder_layers": 3},
    "lgformer-t5-n6.yaml": {"decoder_layers": 6},
    "lgformer-t6-sentence-l2va.yaml": {"pixel_decoder.l2va_input": "sentence"},
    "lqmformer-t3-no-scoring.yaml": {"scoring_network": False, "score_learning": True},
    "lqmformer-t3-no-score-learning.yaml": {"score_learning": False, "scoring_network": True},
    "lqmformer-t3-no-qm-loss.yaml": {"qm_loss": False},
    "lqmformer-t4-nqb20.yaml": {"num_queries": 20},
    "lqmformer-t4-nqb50.yaml": {"num_queries": 50},
    "lqmformer-t5-rho0.5.yaml": {"rho": 0.5},
    "lqmformer-t5-rho1.0.yaml": {"rho": 1.0},
    "lqmformer-t6-cross-attention.yaml": {"grounding": "cross_attention"},
}


def _get(cfg, dotted):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def test_every_config_file_loads_and_builds():
    assert len(FILES) == 4 + len(ABLATIONS)
    counts = {}
    for f in FILES:
        cfg = load_train_config(f)
        model_cfg = resolve_model_config(cfg)
        assert cfg.train.out == f"runs/{f.stem}", f.name  # every run gets its own folder
        if "swinb" in f.name:  # paper-size encoders: build the structure only (no download)
            model_cfg = with_overrides(model_cfg, {"backbone.pretrained": None, "text.random_init": True})
        else:  # the compact models start from the Swin `rismodel pretrain` writes (README), not made here
            assert model_cfg.backbone.pretrained == PRETRAINED_SWIN, f.name
            model_cfg = with_overrides(model_cfg, {"backbone.pretrained": None})
        with torch.device("meta" if "swinb" in f.name else "cpu"):
            model = build_model(model_cfg)
        counts[f.name] = sum(p.numel() for p in model.parameters())
        for key, value in ABLATIONS.get(f.name, {}).items():
            assert _get(model_cfg, key) == value, f"{f.name}: {key}"
    assert counts["lgformer-t2-learnable-q10.yaml"] != counts["lgformer-compact.yaml"]
    assert counts["lgformer-t4-baseline.yaml"] < counts["lgformer-t4-pwam.yaml"] < counts["lgformer-compact.yaml"]
    assert counts["lqmformer-t6-cross-attention.yaml"] < counts["lqmformer-compact.yaml"]
    assert counts["lgformer-swinb.yaml"] > 5 * counts["lgformer-compact.yaml"]


def test_paper_configs_follow_the_papers():
    lg = load_train_config(CONFIGS / "lgformer-swinb.yaml")
    assert (lg.train.batch_size, lg.train.epochs, lg.train.lr, lg.train.weight_decay) == (32, 40, 5e-5, 0.01)
    assert lg.train.poly_power == 0.9 and resolve_model_config(lg).input.image_size == 480
    lqm = load_train_config(CONFIGS / "lqmformer-swinb.yaml")
    assert (lqm.train.batch_size, lqm.train.max_steps, lqm.train.lr) == (48, 100_000, 1e-5)
    assert resolve_model_config(lqm).num_queries == 100 and lqm.data.format == "grefcoco"


def test_overrides_and_base_rules(tmp_path):
    cfg = load_train_config(CONFIGS / "lgformer-t5-n6.yaml",
                            ["train.max_steps=7", "model.pixel_decoder.l2va=false", "train.lr=1e-4"])
    assert cfg.train.max_steps == 7 and cfg.train.epochs is None  # max_steps replaces the base's
    assert cfg.train.lr == pytest.approx(1e-4)  # YAML reads 1e-4 as a string; coerced
    m = resolve_model_config(cfg)
    assert m.decoder_layers == 6 and m.pixel_decoder.l2va is False
    swin = load_train_config(CONFIGS / "lgformer-swinb.yaml", ["train.max_steps=3"])
    assert swin.train.epochs is None and swin.train.max_steps == 3


@pytest.mark.parametrize("text, overrides, message", [
    ("train: {max_steps: 3, bogus: 1}", [], "unknown key.*bogus"),
    ("train: {max_steps: 3, batch_size: many}", [], "train.batch_size: expected an integer"),
    ("train: {max_steps: 3, amp: fp8}", [], "train.amp: 'fp8' is not one of"),
    ("train: {max_steps: 3}", ["model.name=nope"], "unknown model name 'nope'"),
    ("train: {max_steps: 3}\nmodel: {name: lgformer-compact, decoder_layerz: 2}", [], "decoder_layerz"),
    ("train: {}", [], "exactly one of train.max_steps and train.epochs"),
    ("base: loop.yaml", [], "loop"),
    ("train: {max_steps: 3}", ["max_steps=3"], "section.key=value"),
    ("train: {max_steps: 3}", ["optim.lr=1"], "unknown section 'optim'"),
    ("[1, 2]", [], "must hold a mapping"),
    ("train: {max_steps: 3}", ["data.shortest_sentence_prob=1.5"], "shortest_sentence_prob must be in"),
])
def test_bad_configs_name_the_problem(tmp_path, text, overrides, message):
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    with pytest.raises(TrainConfigError, match=message):
        cfg = load_train_config(path, overrides)
        resolve_model_config(cfg)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TrainConfigError, match="not found.*nope.yaml"):
        load_train_config(tmp_path / "nope.yaml")
