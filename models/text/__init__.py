"""Tokenizers that travel inside exported models (plain Python and numpy, TensorFlow-free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnx.models.text.chars import CHAR_TOKENIZER_TYPE, CharTokenizer
from rnnx.models.text.tokenizer import TOKENIZER_TYPE, WordTokenizer


def tokenizer_from_dict(data: dict[str, Any]) -> WordTokenizer | CharTokenizer:
    """The tokenizer described by ``data`` (its ``type`` says which).

    Raises:
        ValueError: for an unknown type or invalid content.
    """
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == TOKENIZER_TYPE:
        return WordTokenizer.from_dict(data)
    if kind == CHAR_TOKENIZER_TYPE:
        return CharTokenizer.from_dict(data)
    raise ValueError(f"unknown tokenizer type {kind!r} (expected {TOKENIZER_TYPE} or {CHAR_TOKENIZER_TYPE})")


def load_tokenizer(path: str | Path) -> WordTokenizer | CharTokenizer:
    """Read a tokenizer JSON file of either kind.

    Raises:
        OSError: unreadable file.
        ValueError: not tokenizer JSON.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON: {err.msg} at line {err.lineno}") from None
    return tokenizer_from_dict(data)
