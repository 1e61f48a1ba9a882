"""Readers for the IMDB Large Movie Review dataset (Maas et al., ACL 2011) in the forms it comes in.

* **JSON Lines**, optionally gzipped: one object per line with a ``text`` (str) and a ``label``
  (0 = negative, 1 = positive) field, files named ``imdb_train.jsonl[.gz]`` and
  ``imdb_test.jsonl[.gz]`` (the form of ``shared/data``);
* the original **aclImdb folder**: ``{train,test}/{pos,neg}/<id>_<rating>.txt``;
* **keras.datasets.imdb** (``--data keras``): downloaded by Keras, needs a network and TensorFlow;
  its integer sequences are decoded back to words with Keras' word index.

:func:`find_imdb` resolves where the data is: an explicit location, else the ``RNNX_DATA``
environment variable, else a few conventional folders. When nothing is found it raises one
:class:`~rnnx.exporter.errors.DataNotFoundError` that lists every place it looked.

Nothing here imports TensorFlow except the ``keras`` source, and only when it is used.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import DataNotFoundError, InputFileError

ENV_VAR = "RNNX_DATA"
KERAS_SOURCE = "keras"
SPLITS = ("train", "test")
LABEL_NAMES = ("negative", "positive")
DEFAULT_SEARCH = ("data", "../shared/data", "aclImdb", "~/.keras/datasets/aclImdb")


@dataclass(frozen=True)
class LabeledTexts:
    """Texts with binary labels.

    Attributes:
        texts: the reviews, as read (HTML line breaks and punctuation kept).
        labels: ``int64 [n]``, 0 = negative, 1 = positive.
        source: where they were read from, for reports.
    """

    texts: list[str]
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def shuffled(self, seed: int) -> LabeledTexts:
        """A copy in an order fixed by ``seed`` (the files are grouped by label)."""
        order = np.random.default_rng(seed).permutation(len(self.texts))
        return LabeledTexts([self.texts[i] for i in order], self.labels[order], self.source)

    def head(self, count: int | None) -> LabeledTexts:
        """The first ``count`` rows (all when ``count`` is ``None``)."""
        if count is None or count >= len(self.texts):
            return self
        return LabeledTexts(self.texts[:count], self.labels[:count], self.source)


@dataclass(frozen=True)
class ImdbSource:
    """A resolved dataset location.

    Attributes:
        kind: ``"jsonl"``, ``"aclimdb"``, ``"file"`` (one JSONL file, used for any split) or ``"keras"``.
        location: the folder or file (``None`` for ``keras``).
    """

    kind: str
    location: Path | None

    def describe(self) -> str:
        return "keras.datasets.imdb" if self.kind == KERAS_SOURCE else str(self.location)


def _jsonl_file(folder: Path, split: str) -> Path | None:
    for name in (f"imdb_{split}.jsonl.gz", f"imdb_{split}.jsonl"):
        if (folder / name).is_file():
            return folder / name
    return None


def _source_in(path: Path) -> ImdbSource | None:
    """The dataset at ``path`` if there is one (a JSONL pair, an aclImdb folder, or one file)."""
    if path.is_file() and (path.name.endswith(".jsonl") or path.name.endswith(".jsonl.gz")):
        return ImdbSource("file", path)
    if not path.is_dir():
        return None
    if all(_jsonl_file(path, split) for split in SPLITS):
        return ImdbSource("jsonl", path)
    for root in (path, path / "aclImdb"):
        if all((root / split / "pos").is_dir() and (root / split / "neg").is_dir() for split in SPLITS):
            return ImdbSource("aclimdb", root)
    return None


def find_imdb(
    data: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    search: Sequence[str] = DEFAULT_SEARCH,
) -> ImdbSource:
    """Resolve where the IMDB reviews are.

    Args:
        data: an explicit location: a folder holding ``imdb_{train,test}.jsonl[.gz]``, an aclImdb
            folder (or one containing ``aclImdb/``), a single JSONL file, or ``"keras"``.
        env: environment to read ``RNNX_DATA`` from (``os.environ`` when ``None``).
        search: folders tried, relative to the working directory, when neither is given.

    Raises:
        DataNotFoundError: nothing usable at the explicit location, or anywhere searched; the
            message lists each place tried.
    """
    env = os.environ if env is None else env
    if data is None and env.get(ENV_VAR):
        data, origin = env[ENV_VAR], f"${ENV_VAR}"
    else:
        origin = "--data"
    if data is not None:
        if str(data) == KERAS_SOURCE:
            return ImdbSource(KERAS_SOURCE, None)
        path = Path(data).expanduser()
        found = _source_in(path)
        if found is None:
            state = "does not exist" if not path.exists() else "holds no IMDB reviews in a known layout"
            raise DataNotFoundError(
                f"{origin} {path} {state}; give a folder with imdb_train.jsonl.gz and "
                f"imdb_test.jsonl.gz, an aclImdb folder, a .jsonl[.gz] file, or 'keras' to download"
            )
        return found
    tried = []
    for candidate in search:
        path = Path(candidate).expanduser()
        found = _source_in(path)
        if found is not None:
            return found
        tried.append(str(path.resolve()) if not path.is_absolute() else str(path))
    raise DataNotFoundError(
        "no IMDB reviews found; looked in --data (not given), ${} (not set), {}; "
        "pass --data FOLDER (imdb_{{train,test}}.jsonl.gz or aclImdb/) or --data keras to download".format(
            ENV_VAR, ", ".join(tried)
        )
    )


def read_jsonl(path: str | Path) -> LabeledTexts:
    """Read ``text``/``label`` rows from a JSON Lines file (gzipped when the name ends in ``.gz``).

    Raises:
        InputFileError: unreadable or corrupt file, a line that is not JSON, or a row without a
            string ``text`` and a 0/1 ``label``; the message gives the line number.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    texts, labels = [], []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputFileError(f"{path}:{number}: not JSON ({err.msg})") from None
                text, label = (row.get("text"), row.get("label")) if isinstance(row, dict) else (None, None)
                if not isinstance(text, str) or label not in (0, 1):
                    raise InputFileError(f"{path}:{number}: each row needs a string 'text' and a 'label' of 0 or 1")
                texts.append(text)
                labels.append(label)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as err:
        raise InputFileError(f"cannot read {path}: {err}") from None
    if not texts:
        raise InputFileError(f"{path} holds no reviews")
    return LabeledTexts(texts, np.asarray(labels, dtype=np.int64), str(path))


def read_aclimdb(root: str | Path, split: str) -> LabeledTexts:
    """Read ``root/{split}/{neg,pos}/*.txt`` (negative first, files in name order).

    Raises:
        InputFileError: a missing split folder or an undecodable review file.
    """
    root = Path(root)
    texts, labels = [], []
    for label, name in enumerate(("neg", "pos")):
        folder = root / split / name
        if not folder.is_dir():
            raise InputFileError(f"{folder} is missing; an aclImdb folder has {split}/pos and {split}/neg")
        for file in sorted(folder.glob("*.txt")):
            try:
                texts.append(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as err:
                raise InputFileError(f"cannot read {file}: {err}") from None
            labels.append(label)
    if not texts:
        raise InputFileError(f"{root / split} holds no .txt reviews")
    return LabeledTexts(texts, np.asarray(labels, dtype=np.int64), str(root / split))


def read_keras_imdb(split: str) -> LabeledTexts:
    """Download (or reuse Keras' cache of) ``keras.datasets.imdb`` and decode it to words.

    Keras ships the reviews as word ids (offset 3: 0 padding, 1 start, 2 OOV); they are mapped
    back through ``imdb.get_word_index()``, which loses punctuation and case, as Keras' own copy has.

    Raises:
        DataNotFoundError: when the download fails (no network).
    """
    try:
        from keras.datasets import imdb
    except ImportError as err:  # pragma: no cover - depends on the install
        raise DataNotFoundError(f"--data keras needs TensorFlow/Keras (pip install 'rnnx[train]'): {err}") from None
    try:
        (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=None, index_from=3)
        word_index = imdb.get_word_index()
    except Exception as err:  # network errors come in many types
        raise DataNotFoundError(f"could not download keras.datasets.imdb (no network?): {err}") from None
    words = {index + 3: word for word, index in word_index.items()}
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    texts = [" ".join(words.get(i, "") for i in row if i >= 3).strip() for row in x]
    return LabeledTexts(texts, np.asarray(y, dtype=np.int64), f"keras.datasets.imdb ({split})")


def load_imdb(source: ImdbSource, split: str) -> LabeledTexts:
    """Read one split (``"train"`` or ``"test"``) from a resolved source, in file order.

    A single-file source returns that file whatever the split. Shuffle with
    :meth:`LabeledTexts.shuffled` before training: the files are grouped by label.

    Raises:
        ValueError: for an unknown split.
        InputFileError, DataNotFoundError: as the readers raise them.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if source.kind == KERAS_SOURCE:
        return read_keras_imdb(split)
    assert source.location is not None
    if source.kind == "file":
        return read_jsonl(source.location)
    if source.kind == "jsonl":
        path = _jsonl_file(source.location, split)
        if path is None:
            raise DataNotFoundError(f"{source.location} has no imdb_{split}.jsonl[.gz]")
        return read_jsonl(path)
    return read_aclimdb(source.location, split)
