"""Word-level tokenizer shared by training and the device predictor.

Plain Python and numpy only: the device tokenizes exactly as training did, without TensorFlow,
from the configuration and vocabulary embedded in the exported ``.tflite`` file.

Text normalisation, in order:

1. lower-casing (``str.lower``);
2. HTML line breaks (``<br />``, ``<br>``, any case) become spaces, as IMDB reviews carry them;
3. typographic apostrophes (U+2019, U+2018) become ``'``;
4. tokens are maximal runs of letters and digits (any script), joined by single inner
   apostrophes, so ``"Don't!"`` gives ``["don't"]``; every other character (punctuation,
   underscores, symbols) separates tokens and is dropped.

Index layout, as in ``keras.preprocessing.text.Tokenizer(oov_token=...)``: 0 is padding, 1 is the
out-of-vocabulary token, and 2 … ``num_words - 1`` are the ``num_words - 2`` most frequent
training words (ties broken alphabetically, so a fit is deterministic). Long sequences are
truncated at the front (``"pre"``, the Keras ``pad_sequences`` default): the end of a review,
where the verdict usually is, is kept. Short ones are padded at the front (``"pre"``, the default:
a model without a mask then reads the review last) or at the end (``"post"``: for models that
mask the padding, where both give the same result and right padding keeps cuDNN usable).
"""

from __future__ import annotations

import collections
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PADDINGS = ("pre", "post")
PAD_INDEX = 0
OOV_INDEX = 1
TOKENIZER_TYPE = "rnnx.word_tokenizer"
TOKENIZER_VERSION = 2  # 2: the vocabulary as one newline-separated string (1: a JSON list)
READ_VERSIONS = (1, 2)

_TOKEN_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})


def split_words(text: str) -> list[str]:
    """Normalise ``text`` and split it into word tokens (see the module docstring).

    Args:
        text: any Unicode string.

    Returns:
        The tokens in reading order, lower-cased; empty for a text without letters or digits.
    """
    text = _HTML_BREAK.sub(" ", text.lower()).translate(_APOSTROPHES)
    return _TOKEN_PATTERN.findall(text)


def auto_max_tokens(lengths: Sequence[int]) -> int:
    """Sequence length covering most texts: ``ceil(mean + 2 * std)`` of the token counts.

    This is the rule of the classic Keras IMDB tutorials; on the 25,000 IMDB training reviews it
    gives 581 and keeps the whole review for about 95% of them.

    Raises:
        ValueError: if ``lengths`` is empty.
    """
    if len(lengths) == 0:
        raise ValueError("cannot choose max_tokens from an empty corpus")
    counts = np.asarray(lengths, dtype=np.float64)
    return max(1, int(math.ceil(counts.mean() + 2.0 * counts.std())))


class WordTokenizer:
    """Maps texts to fixed-length ``int32`` token-id sequences.

    Args:
        vocabulary: words for indices 2, 3, …, in index order (no padding or OOV entries).
        max_tokens: length ``T`` of every encoded sequence.
        num_words: size of the id space, ``len(vocabulary) + 2`` by default; the model's
            ``Embedding(input_dim=num_words)`` must be at least this large.
        padding: ``"pre"`` or ``"post"``: where short sequences get their padding.

    Raises:
        ValueError: on an empty or duplicated vocabulary entry, ``max_tokens < 1``, a
            ``num_words`` too small for the vocabulary, or an unknown padding.
    """

    def __init__(self, vocabulary: Sequence[str], max_tokens: int, num_words: int | None = None, padding: str = "pre"):
        words = list(vocabulary)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if num_words is None:
            num_words = len(words) + 2
        if num_words < len(words) + 2:
            raise ValueError(f"num_words={num_words} is too small for {len(words)} words plus padding and OOV")
        index = {word: i + 2 for i, word in enumerate(words)}
        if len(index) != len(words) or "" in index:
            raise ValueError("the vocabulary has empty or duplicated words")
        if any(any(c.isspace() for c in word) for word in words):
            raise ValueError("vocabulary words cannot contain whitespace (the tokenizer splits on it)")
        self._words = words
        self._index = index
        self.max_tokens = int(max_tokens)
        self.num_words = int(num_words)
        self.padding = padding

    @classmethod
    def fit(
        cls, texts: Iterable[str], num_words: int = 10000, max_tokens: int | None = None, padding: str = "pre"
    ) -> WordTokenizer:
        """Build the vocabulary of the ``num_words - 2`` most frequent words of ``texts``.

        Args:
            texts: training texts.
            num_words: size of the id space including padding (0) and OOV (1); at least 3.
            max_tokens: sequence length; ``None`` chooses :func:`auto_max_tokens`.
            padding: ``"pre"`` or ``"post"``.

        Raises:
            ValueError: if ``num_words < 3`` or ``texts`` is empty.
        """
        if num_words < 3:
            raise ValueError(f"num_words must be at least 3 (padding, OOV, one word), got {num_words}")
        counts: collections.Counter[str] = collections.Counter()
        lengths = []
        for text in texts:
            words = split_words(text)
            counts.update(words)
            lengths.append(len(words))
        if not lengths:
            raise ValueError("cannot fit a tokenizer on an empty corpus")
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        vocabulary = [word for word, _ in ranked[: num_words - 2]]
        if max_tokens is None:
            max_tokens = auto_max_tokens(lengths)
        return cls(vocabulary, max_tokens=max_tokens, num_words=num_words, padding=padding)

    @property
    def vocabulary(self) -> list[str]:
        """Words for ids 2, 3, … in order."""
        return list(self._words)

    def word_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without padding or truncation (OOV words map to 1)."""
        index = self._index
        return [index.get(word, OOV_INDEX) for word in split_words(text)]

    def pad(self, ids: Sequence[int]) -> np.ndarray:
        """Truncate ``ids`` at the front and pad them with 0 (per :attr:`padding`); ``int32 [max_tokens]``."""
        row = np.zeros(self.max_tokens, dtype=np.int32)
        kept = list(ids)[-self.max_tokens :]
        if kept:
            if self.padding == "pre":
                row[self.max_tokens - len(kept) :] = kept
            else:
                row[: len(kept)] = kept
        return row

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts as an ``int32`` array of shape ``[len(texts), max_tokens]``."""
        out = np.zeros((len(texts), self.max_tokens), dtype=np.int32)
        for i, text in enumerate(texts):
            out[i] = self.pad(self.word_ids(text))
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words of ``ids`` joined by spaces, skipping padding; OOV shows as ``<oov>``."""
        words = []
        for i in ids:
            i = int(i)
            if i == PAD_INDEX:
                continue
            words.append("<oov>" if i == OOV_INDEX or i - 2 >= len(self._words) else self._words[i - 2])
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready configuration and vocabulary (the form embedded in exported models)."""
        return {
            "type": TOKENIZER_TYPE,
            "version": TOKENIZER_VERSION,
            "lowercase": True,
            "html_breaks": "space",
            "token_pattern": _TOKEN_PATTERN.pattern,
            "pad_index": PAD_INDEX,
            "oov_index": OOV_INDEX,
            "padding": self.padding,
            "truncating": "pre",
            "num_words": self.num_words,
            "max_tokens": self.max_tokens,
            "vocabulary": "\n".join(self._words),  # smaller than a JSON list, compressed or not
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordTokenizer:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: if ``data`` is not an rnnx word tokenizer of a supported version, or was
                written with normalisation rules other than this module's.
        """
        if not isinstance(data, dict) or data.get("type") != TOKENIZER_TYPE:
            raise ValueError("not an rnnx word tokenizer (missing type 'rnnx.word_tokenizer')")
        if data.get("version") not in READ_VERSIONS:
            raise ValueError(f"unsupported tokenizer version {data.get('version')!r}; upgrade rnnx")
        if data.get("token_pattern") != _TOKEN_PATTERN.pattern:
            raise ValueError("the tokenizer was written with another token pattern; re-export it")
        try:
            vocabulary = data["vocabulary"]
            if isinstance(vocabulary, str):
                vocabulary = vocabulary.split("\n") if vocabulary else []
            return cls(
                vocabulary,
                max_tokens=data["max_tokens"],
                num_words=data["num_words"],
                padding=data.get("padding", "pre"),
            )
        except KeyError as missing:
            raise ValueError(f"tokenizer data lacks the field {missing}") from None

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as UTF-8 JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        """Read a tokenizer written by :meth:`save`.

        Raises:
            OSError: if the file cannot be read.
            ValueError: if it is not valid tokenizer JSON.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not JSON: {err.msg} at line {err.lineno}") from None
        return cls.from_dict(data)
