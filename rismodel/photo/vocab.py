"""Head noun -> one of the 80 detector classes: the synonym list first, then the shipped
all-MiniLM-L6-v2 text encoder (mean-pooled, cosine similarity to each class name).

A word whose best similarity is below :data:`MIN_SIMILARITY` maps to no class: photo-coco then
says it does not know the word instead of guessing.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

from .labels import COCO_CLASSES, SYNONYMS

MIN_SIMILARITY = 0.5


@dataclass(frozen=True)
class ClassMatch:
    word: str
    cls: int | None  # index into COCO_CLASSES, None when unknown
    similarity: float
    how: str  # "class name", "synonym", "text encoder", "unknown"

    @property
    def name(self) -> str | None:
        return None if self.cls is None else COCO_CLASSES[self.cls]


def singular(word: str) -> str:
    """A plural's singular: the first candidate the class names or synonyms know, else the
    plain rule ("horses" -> "horse", "puppies" -> "puppy", "boxes" -> "box")."""
    known = set(SYNONYMS) | set(COCO_CLASSES)
    if word in known or len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return word
    cands = [word[:-1], word[:-2], word[:-3] + "y"] if word.endswith("ies") else [word[:-1], word[:-2]]
    for c in cands:
        if c in known:
            return c
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1]


class ClassMatcher:
    """Maps words to classes; the text encoder is loaded on the first word the lists do not know."""

    def __init__(self, encoder_factory=None):
        self._factory = encoder_factory or _minilm
        self._encoder = None
        self._class_emb = None
        self._cache: collections.OrderedDict[str, ClassMatch] = collections.OrderedDict()

    def _embed(self, texts: list[str]):
        import torch

        enc = self._encoder
        ids, mask = enc.tokenize(texts)
        with torch.inference_mode():
            h = enc(ids, mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1) / m.sum(1).clamp(min=1)  # sentence-transformers' mean pooling
        return torch.nn.functional.normalize(v, dim=-1)

    def load(self) -> None:
        """Load the text encoder now (it is otherwise loaded on the first word the lists lack)."""
        self._ensure()

    def _ensure(self) -> None:
        if self._encoder is None:
            self._encoder = self._factory()
            self._class_emb = self._embed(list(COCO_CLASSES))

    def match(self, word: str) -> ClassMatch:
        word = word.lower().strip()
        if word in self._cache:
            self._cache.move_to_end(word)
            return self._cache[word]
        one = singular(word)
        phrase = word.replace(" ", "")
        if word in COCO_CLASSES or one in COCO_CLASSES:
            m = ClassMatch(word, COCO_CLASSES.index(word if word in COCO_CLASSES else one), 1.0, "class name")
        elif word in SYNONYMS or one in SYNONYMS:
            m = ClassMatch(word, COCO_CLASSES.index(SYNONYMS.get(word) or SYNONYMS[one]), 1.0, "synonym")
        elif phrase in SYNONYMS:
            m = ClassMatch(word, COCO_CLASSES.index(SYNONYMS[phrase]), 1.0, "synonym")
        else:
            self._ensure()
            sims = (self._embed([one]) @ self._class_emb.T)[0]
            best = int(sims.argmax())
            s = float(sims[best])
            m = ClassMatch(word, best if s >= MIN_SIMILARITY else None, s,
                           "text encoder" if s >= MIN_SIMILARITY else "unknown")
        self._cache[word] = m
        if len(self._cache) > 512:
            self._cache.popitem(last=False)
        return m

    def class_similarity(self, a: int, b: int) -> float:
        """Cosine similarity of two class names (used to fall back to a neighbouring class)."""
        self._ensure()
        return float(self._class_emb[a] @ self._class_emb[b])


@functools.lru_cache(maxsize=1)
def _minilm():
    from ..config import TextConfig
    from ..modeling.text_encoder import TextEncoder
    from ..registry import MINILM

    return TextEncoder(TextConfig(name=MINILM, max_tokens=16, hidden_size=384, trainable=False,
                                  num_layers=6, num_heads=12)).eval()
