"""Character-level text for language models, as *Dive into Deep Learning* prepares *The Time Machine*.

Source: d2l.ai §9.2 "Converting Raw Text into Sequence Data": lower-case the text and replace
every run of non-letters by one space (``re.sub('[^A-Za-z]+', ' ', line).strip().lower()`` per
line in the book). The vocabulary is the set of characters, most frequent first, after an
unknown token (id 0); for *The Time Machine* that is 28 tokens: ``<unk>``, space and a–z.

Plain Python and numpy: the device predictor uses the same class, from the configuration
embedded in the exported model.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CHAR_TOKENIZER_TYPE = "rnnx.char_tokenizer"
CHAR_TOKENIZER_VERSION = 1
UNKNOWN = "<unk>"
_NON_LETTERS = re.compile(r"[^A-Za-z]+")


def normalize_chars(text: str, strip: bool = True) -> str:
    """The book's preprocessing, line by line: non-letters → one space, stripped, lower-case, lines joined by a space.

    With ``strip=False`` the ends are kept (as one space each): a generation prefix such as
    ``"the time "`` keeps its final space, so the model continues with a new word.
    """
    if not strip:
        return _NON_LETTERS.sub(" ", text).lower()
    lines = (_NON_LETTERS.sub(" ", line).strip().lower() for line in text.splitlines())
    return " ".join(line for line in lines if line)


class CharTokenizer:
    """Maps characters to ids (0 = unknown) and back.

    Args:
        chars: the vocabulary after ``<unk>``, in id order (ids 1, 2, …).
        max_tokens: default sequence length ``T`` of the model's whole-sequence signature.
        normalize: apply :func:`normalize_chars` before mapping (the book's preprocessing).

    Raises:
        ValueError: for an empty or duplicated vocabulary, or ``max_tokens < 1``.
    """

    def __init__(self, chars: Sequence[str], max_tokens: int, normalize: bool = True):
        chars = list(chars)
        if not chars or len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("the vocabulary must be distinct single characters")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.chars = chars
        self.max_tokens = int(max_tokens)
        self.normalize = bool(normalize)
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def fit(cls, text: str, max_tokens: int, normalize: bool = True) -> CharTokenizer:
        """Vocabulary of ``text`` (after normalisation), most frequent first, ties by character."""
        if normalize:
            text = normalize_chars(text)
        counts = collections.Counter(text)
        if not counts:
            raise ValueError("cannot fit a character vocabulary on an empty text")
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls([c for c, _ in ranked], max_tokens, normalize)

    @property
    def vocab_size(self) -> int:
        """Ids in use, ``<unk>`` included."""
        return len(self.chars) + 1

    def prepare(self, text: str, strip: bool = True) -> str:
        """The text as the model sees it (normalised when the tokenizer normalises)."""
        return normalize_chars(text, strip) if self.normalize else text

    def encode(self, text: str, strip: bool = True) -> np.ndarray:
        """``int32 [len]`` ids of the prepared text (unknown characters → 0); see :func:`normalize_chars`."""
        index = self._index
        return np.fromiter((index.get(c, 0) for c in self.prepare(text, strip)), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] if 0 < i <= len(self.chars) else "?" for i in (int(i) for i in ids))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": CHAR_TOKENIZER_TYPE,
            "version": CHAR_TOKENIZER_VERSION,
            "normalize": "d2l: non-letters to one space, lower-case" if self.normalize else "none",
            "unknown": UNKNOWN,
            "max_tokens": self.max_tokens,
            "chars": self.chars,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: if ``data`` is not an rnnx character tokenizer of a supported version.
        """
        if not isinstance(data, dict) or data.get("type") != CHAR_TOKENIZER_TYPE:
            raise ValueError("not an rnnx character tokenizer")
        if data.get("version") != CHAR_TOKENIZER_VERSION:
            raise ValueError(f"unsupported character tokenizer version {data.get('version')!r}")
        return cls(data["chars"], data["max_tokens"], data.get("normalize") != "none")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()), encoding="utf-8")
