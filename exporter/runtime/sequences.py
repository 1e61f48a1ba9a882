"""Numeric input sequences for feature models (sensors, speech features): read and shaped, numpy only.

Accepted files (``rnnx infer --input``):

* ``.npy``: ``[n, T, channels]`` (n sequences) or ``[T, channels]`` (one);
* ``.csv``: one sequence, a row per time step and a column per channel; a first row that is
  not numeric is taken as a header and skipped;
* ``.jsonl`` / ``.json``: a sequence per line, as ``[[…], …]`` (steps × channels) or
  ``{"features": [[…], …]}`` (any other keys are ignored).

Sequences shorter than the model's ``T`` are padded at the end with zeros when the model masks
its padding, and refused otherwise; longer ones are refused (rnnx does not cut a recording
silently).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError, InvalidInputError

SEQUENCE_SUFFIXES = (".npy", ".csv", ".jsonl", ".json")


def read_sequences(path: str | Path) -> list[np.ndarray]:
    """The sequences in ``path``, each ``float32 [steps, channels]``.

    Raises:
        InputFileError: a missing or unreadable file, an unknown suffix, or rows that are not numbers.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SEQUENCE_SUFFIXES:
        raise InputFileError(
            f"{path}: numeric sequences come as {', '.join(SEQUENCE_SUFFIXES)}, not {suffix or 'no suffix'}"
        )
    if not path.is_file():
        raise InputFileError(f"{path} does not exist")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim == 2:
                array = array[None]
            if array.ndim != 3:
                raise InputFileError(f"{path}: expected [n, T, channels] or [T, channels], got {list(array.shape)}")
            return [np.asarray(a, np.float32) for a in array]
        if suffix == ".csv":
            return [_csv(path)]
        return _json_lines(path)
    except (OSError, ValueError, EOFError) as err:
        raise InputFileError(f"{path}: cannot read numeric sequences ({err or type(err).__name__})") from None


def _csv(path: Path) -> np.ndarray:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]  # a header
    if not rows:
        raise InputFileError(f"{path}: no time steps")
    for number, row in enumerate(rows, start=1):
        if not _numeric(row):
            raise InputFileError(f"{path}: step {number} is not all numbers: {','.join(row)[:60]}")
    return _rectangular([[float(cell) for cell in row] for row in rows], f"{path}")


def _json_lines(path: Path) -> list[np.ndarray]:
    sequences = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            raise InputFileError(f"{path}:{number}: not JSON") from None
        if isinstance(value, dict):
            value = value.get("features")
        if not isinstance(value, list):
            raise InputFileError(f'{path}:{number}: expected [[…], …] or {{"features": [[…], …]}}')
        sequences.append(_rectangular(value, f"{path}:{number}"))
    if not sequences:
        raise InputFileError(f"{path}: no sequences")
    return sequences


def _numeric(row) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _rectangular(rows, where: str) -> np.ndarray:
    try:
        array = np.asarray(rows, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputFileError(f"{where}: steps of different lengths or non-numbers") from None
    if array.ndim == 1:
        array = array[:, None]  # one channel
    if array.ndim != 2 or array.shape[0] == 0:
        raise InputFileError(f"{where}: expected steps × channels, got shape {list(array.shape)}")
    return array


def stack_sequences(sequences: list[np.ndarray], steps: int | None, channels: int, pads: bool) -> np.ndarray:
    """``float32 [n, T, channels]``: the sequences, padded at the end with zeros to ``T``.

    Args:
        sequences: each ``[steps_i, channels]``.
        steps: the model's ``T`` (``None``: the longest sequence).
        channels: features per step the model takes.
        pads: whether the model masks padding (shorter sequences allowed).

    Raises:
        InvalidInputError: a sequence with NaN or infinite values, the wrong channel count,
            longer than ``T``, or shorter when the model does not mask padding.
    """
    if not sequences:
        raise InvalidInputError("no sequences to run")
    length = steps or max(len(s) for s in sequences)
    out = np.zeros((len(sequences), length, channels), np.float32)
    for i, sequence in enumerate(sequences, start=1):
        bad = np.flatnonzero(~np.isfinite(sequence).all(axis=1))
        if len(bad):
            hint = (
                "pad with zeros instead (the model masks all-zero steps), or give each sequence at its own length"
                if pads
                else "give real numbers"
            )
            raise InvalidInputError(f"sequence {i} has NaN or infinite values at step {bad[0] + 1}; {hint}")
        if sequence.shape[1] != channels:
            raise InvalidInputError(f"sequence {i} has {sequence.shape[1]} channels; the model takes {channels}")
        if len(sequence) > length:
            raise InvalidInputError(f"sequence {i} has {len(sequence)} steps; the model takes at most {length}")
        if len(sequence) < length and not pads:
            raise InvalidInputError(
                f"sequence {i} has {len(sequence)} steps; the model takes exactly {length} (it does not mask padding)"
            )
        out[i - 1, : len(sequence)] = sequence
    return out
