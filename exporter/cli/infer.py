"""``rnnx infer``: classify texts with an exported model on the device (no TensorFlow)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rnnx.exporter.cli._common import fail, handles_errors, stdin_is_piped, stdout
from rnnx.exporter.errors import InputFileError


def read_texts(path: Path | None, texts: list[str]) -> list[str]:
    """Texts from ``--text`` options, then from a file (``-`` = stdin): plain lines or JSON Lines with ``text``.

    Raises:
        InputFileError: an unreadable file, or a JSON line without a string ``text``.
    """
    collected = list(texts)
    if path is None and not collected and stdin_is_piped():
        path = Path("-")
    if path is None:
        return collected
    try:
        lines = sys.stdin.read().splitlines() if str(path) == "-" else path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
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
                    raise InputFileError(f"{path}:{number}: a JSON line needs a string 'text' field")
                collected.append(row["text"])
                continue
        collected.append(line)
    return collected


@handles_errors
def infer_command(
    model: Annotated[Path, typer.Argument(help="An rnnx-exported .tflite file.")],
    text: Annotated[Optional[list[str]], typer.Option("--text", "-t", help="A text to classify; repeatable.")] = None,
    input_file: Annotated[
        Optional[Path],
        typer.Option(
            "--input", "-i", help="File of texts: one per line, or JSON Lines with a 'text' field; '-' for stdin."
        ),
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="Interpreter threads.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print the predictions as JSON.")] = False,
) -> None:
    """Classify texts with the device predictor (numpy + LiteRT, no TensorFlow)."""
    from rnnx.exporter.runtime.predictor import Predictor

    texts = read_texts(input_file, text or [])
    if not texts:
        raise fail("nothing to classify; give --text, --input FILE, or pipe texts on stdin")
    predictor = Predictor(model, num_threads=threads)
    results = predictor.classify(texts)
    if json_output:
        rows = [{"text": t, "probability": r.probability, "label": r.label} for t, r in zip(texts, results)]
        stdout.print_json(json.dumps({"model": str(model), "predictions": rows}))
        return
    for t, r in zip(texts, results):
        preview = t if len(t) <= 70 else t[:67] + "..."
        stdout.print(f"{r.probability:.4f}  {r.label:<8}  {preview}")
