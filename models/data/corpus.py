"""Character corpora for language models and their minibatches, as in *Dive into Deep Learning*.

Source: d2l.ai §9.3 "Language Models" (random and sequential partitioning; the book's
``seq_data_iter_random`` and ``seq_data_iter_sequential``). Both cut the corpus into subsequences
of ``num_steps`` tokens, each target sequence being its input shifted by one token:

* **random**: subsequences start at random positions (after a random offset), in random order;
  consecutive minibatches are unrelated, so the state starts from zero each time;
* **sequential**: the i-th row of consecutive minibatches continues the same stretch of text, so
  the hidden state can be carried from one minibatch to the next (truncated backpropagation
  through time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError

CORPORA = {"timemachine": "timemachine.txt", "tinyshakespeare": "tinyshakespeare.txt"}


def read_text(path: str | Path) -> str:
    """The UTF-8 text of a corpus file.

    Raises:
        InputFileError: missing, unreadable or empty file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read {path}: {err}") from None
    if not text.strip():
        raise InputFileError(f"{path} is empty")
    return text


def find_corpus(data: str | Path | None, corpus: str, search: tuple[str, ...] = ("data", "../shared/data")) -> Path:
    """The corpus file: ``data`` itself if it is a file, else ``<folder>/<corpus file>``.

    Args:
        data: a text file, a folder holding it, or ``None`` to search ``search``.
        corpus: ``"timemachine"`` or ``"tinyshakespeare"`` (the file name in a folder).

    Raises:
        InputFileError: when nothing is found; the message lists the places tried.
    """
    if corpus not in CORPORA:
        raise InputFileError(f"unknown corpus {corpus!r}; choose {', '.join(CORPORA)}")
    if data is not None and Path(data).is_file():
        return Path(data)
    folders = [Path(data)] if data is not None else [Path(f) for f in search]
    for folder in folders:
        candidate = folder / CORPORA[corpus]
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(f / CORPORA[corpus]) for f in folders)
    raise InputFileError(f"no {corpus} text found; looked at {tried}; pass --data FILE_OR_FOLDER")


@dataclass(frozen=True)
class CorpusSplit:
    """Token ids of a corpus cut into training and held-out parts.

    Attributes:
        train: ``int32 [n]`` the first ``max_tokens`` ids (all before the held-out part when ``None``).
        heldout: ``int32 [m]`` the last ``heldout_fraction`` of the corpus, never trained on.
    """

    train: np.ndarray
    heldout: np.ndarray


def split_corpus(ids: np.ndarray, heldout_fraction: float = 0.1, max_tokens: int | None = None) -> CorpusSplit:
    """Held-out part from the end of the corpus; training part from the start (capped at ``max_tokens``).

    Raises:
        InputFileError: when either part would be shorter than two tokens.
    """
    cut = int(len(ids) * (1.0 - heldout_fraction))
    train = ids[:cut] if max_tokens is None else ids[: min(cut, max_tokens)]
    heldout = ids[cut:]
    if len(train) < 2 or len(heldout) < 2:
        raise InputFileError(f"a corpus of {len(ids)} tokens is too short to split")
    return CorpusSplit(train, heldout)


def random_batches(
    ids: np.ndarray, batch_size: int, num_steps: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Random partitioning: ``(X, Y)`` pairs, each ``int32 [batch_size, num_steps]``, ``Y`` shifted by one."""
    ids = ids[int(rng.integers(0, num_steps)) :]
    count = (len(ids) - 1) // num_steps
    starts = rng.permutation(np.arange(count) * num_steps)
    for first in range(0, count - batch_size + 1, batch_size):
        chosen = starts[first : first + batch_size]
        yield (
            np.stack([ids[s : s + num_steps] for s in chosen]).astype(np.int32),
            np.stack([ids[s + 1 : s + 1 + num_steps] for s in chosen]).astype(np.int32),
        )


def sequential_batches(
    ids: np.ndarray, batch_size: int, num_steps: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sequential partitioning: row ``i`` of consecutive batches continues the same stretch of text."""
    offset = int(rng.integers(0, num_steps))
    usable = ((len(ids) - offset - 1) // batch_size) * batch_size
    xs = ids[offset : offset + usable].reshape(batch_size, -1)
    ys = ids[offset + 1 : offset + 1 + usable].reshape(batch_size, -1)
    for start in range(0, (xs.shape[1] // num_steps) * num_steps, num_steps):
        yield xs[:, start : start + num_steps].astype(np.int32), ys[:, start : start + num_steps].astype(np.int32)
