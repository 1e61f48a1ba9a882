"""The inputs verification feeds both models: real held-out data and random sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnx.exporter.errors import InvalidInputError


@dataclass(frozen=True)
class RealData:
    """Real held-out rows for a check.

    Attributes:
        name: the check's name (``"real reviews"``, ``"held-out text"`` or ``"real sequences"``).
        inputs: ``int32 [rows, T]`` token ids, or ``float32 [rows, T, channels]`` features.
        labels: ``[rows]`` labels (classifiers), or ``None``.
        targets: ``[rows, T]`` next tokens (language models), or ``None``.
        source: where the rows came from.
    """

    name: str
    inputs: np.ndarray
    labels: np.ndarray | None
    targets: np.ndarray | None
    source: str


def random_token_ids(
    rng: np.random.Generator, rows: int, length: int, vocabulary: int, padding: str = "pre"
) -> np.ndarray:
    """``int32 [rows, length]`` random word ids (2 … vocabulary-1), padded as the tokenizer pads.

    Half the rows are full length; the others are 1 … length tokens long. ``padding="none"``
    fills every row (ids 1 … vocabulary-1, for character models).
    """
    if padding == "none":
        return rng.integers(1, max(vocabulary, 2), size=(rows, length)).astype(np.int32)
    ids = np.zeros((rows, length), dtype=np.int32)
    for row in range(rows):
        size = length if row % 2 == 0 else int(rng.integers(1, length + 1))
        words = rng.integers(2, max(vocabulary, 3), size=size)
        if padding == "pre":
            ids[row, length - size :] = words
        else:
            ids[row, :size] = words
    return ids


def heldout_windows(text: str, tokenizer, length: int, rows: int, seed: int, fraction: float = 0.1):
    """``(inputs, targets)``: ``rows`` windows of ``length`` characters from the last ``fraction`` of ``text``.

    The windows start at random places (seeded) in the held-out part that ``rnnx train charlm``
    never trains on; targets are the inputs shifted by one character.

    Raises:
        InvalidInputError: when the held-out part is shorter than one window.
    """
    ids = tokenizer.encode(text)
    heldout = ids[int(len(ids) * (1.0 - fraction)) :]
    if len(heldout) <= length + 1:
        raise InvalidInputError(f"the held-out text has {len(heldout)} characters, too few for windows of {length}")
    starts = np.random.default_rng(seed).integers(0, len(heldout) - length - 1, size=rows)
    inputs = np.stack([heldout[s : s + length] for s in starts]).astype(np.int32)
    targets = np.stack([heldout[s + 1 : s + length + 1] for s in starts]).astype(np.int32)
    return inputs, targets


def real_data(predictor, data, samples: int, seed: int, length: int) -> RealData | None:
    """Held-out real rows for the model's task, or ``None`` when it has no real data.

    * a binary classifier with a word tokenizer: IMDB test reviews (shuffled with ``seed``),
      tokenized with the tokenizer embedded in the file, as the device does;
    * a character language model: windows of the held-out tenth of its corpus;
    * a sensor classifier (task ``dataset``): the test split of its dataset (shuffled with ``seed``).

    Raises:
        DataNotFoundError, InputFileError: when the data cannot be found or read.
    """
    from rnnx.models.text.chars import CharTokenizer
    from rnnx.models.text.tokenizer import WordTokenizer

    task = predictor.metadata.task.get("kind")
    tokenizer = predictor.tokenizer
    if samples <= 0:
        return None
    if task == "binary_classification" and isinstance(tokenizer, WordTokenizer):
        from rnnx.models.data.imdb import find_imdb, load_imdb

        reviews = load_imdb(find_imdb(data), "test").shuffled(seed).head(samples)
        return RealData("real reviews", predictor.encode(reviews.texts), reviews.labels, None, reviews.source)
    if task == "multiclass_classification" and predictor.metadata.task.get("dataset"):
        from rnnx.models.data.sensors import load_sensor_dataset

        dataset = load_sensor_dataset(predictor.metadata.task["dataset"], data)
        rows = np.random.default_rng(seed).permutation(len(dataset.test))[:samples]
        name = "real sequences"
        return RealData(name, dataset.test.x[rows], dataset.test.y[rows], None, f"{dataset.source} (test split)")
    if task == "language_model" and isinstance(tokenizer, CharTokenizer):
        from rnnx.models.data.corpus import find_corpus, read_text

        path = find_corpus(data, "timemachine")
        inputs, targets = heldout_windows(read_text(path), tokenizer, length, samples, seed)
        return RealData("held-out text", inputs, None, targets, str(path))
    return None


def perturbed_rows(like: np.ndarray, rows: int, rng: np.random.Generator, scale: float = 0.1) -> np.ndarray:
    """``rows`` real feature rows drawn at random from ``like``, each value plus normal noise of
    ``scale`` × its channel's standard deviation (padding steps stay zero).

    For quantized files: independent random features leave the ranges the file was calibrated
    on (a quantized model is wrong there by design); these stay near real data and still vary.
    """
    picked = like[rng.integers(0, len(like), size=rows)].astype(np.float64)
    real = np.abs(picked).sum(axis=2, keepdims=True) > 0
    steps = like[np.abs(like).sum(axis=2) > 0]
    noise = rng.standard_normal(picked.shape) * (scale * steps.std(axis=0))
    return np.where(real, picked + noise, 0.0).astype(np.float32)


def random_inputs(
    predictor, rows: int, length: int, rng: np.random.Generator, vocabulary: int | None, like: np.ndarray | None = None
):
    """``(name, inputs)``: random token ids (padded like the tokenizer) or normal features.

    Features are standard normal, or, given real feature rows ``like`` (``[n, T, channels]``),
    normal with each channel's mean and standard deviation over their non-padding steps: raw
    sensor values live on their own scales, and a quantized model is calibrated for those.
    """
    from rnnx.models.text.tokenizer import WordTokenizer

    spec = predictor.metadata.input_spec()
    tokenizer = predictor.tokenizer
    if spec.get("kind") == "token_ids":
        if isinstance(tokenizer, WordTokenizer):
            return "random tokens", random_token_ids(rng, rows, length, tokenizer.num_words, tokenizer.padding)
        size = tokenizer.vocab_size if tokenizer is not None else (vocabulary or 2)
        padding = "none" if tokenizer is not None else "pre"
        return "random tokens", random_token_ids(rng, rows, length, size, padding)
    shape = [rows, length, *[d if d is not None else 1 for d in spec["shape"][2:]]]
    noise = rng.standard_normal(shape)
    if like is not None and like.ndim == 3 and like.shape[2] == shape[2]:
        steps = like[np.abs(like).sum(axis=2) > 0]
        if len(steps):
            return "random features", (noise * steps.std(axis=0) + steps.mean(axis=0)).astype(np.float32)
    return "random features", noise.astype(np.float32)
