"""Reading texts to classify or calibrate with: plain lines, or JSON Lines with a ``text`` field."""

from __future__ import annotations

import json
from pathlib import Path

from rnnx.exporter.errors import InputFileError


def parse_text_lines(lines, source: str) -> list[str]:
    """Texts from ``lines``: a line starting with ``{`` is JSON with a string ``text``; blank lines are skipped.

    Raises:
        InputFileError: a JSON line without a string ``text`` (the message gives the line number).
    """
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict):
                if not isinstance(row.get("text"), str):
                    raise InputFileError(f"{source}:{number}: a JSON line needs a string 'text' field")
                texts.append(row["text"])
                continue
        texts.append(line)
    return texts


def read_text_lines(path: str | Path) -> list[str]:
    """:func:`parse_text_lines` of a UTF-8 file.

    Raises:
        InputFileError: an unreadable file or a bad JSON line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    return parse_text_lines(lines, str(path))
