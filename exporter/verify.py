"""``rnnx verify``: does the ``.tflite`` file compute what the Keras model computes?

Both models run on the same inputs:

* **real reviews**: held-out IMDB test reviews (shuffled with the seed), tokenized with the
  tokenizer embedded in the ``.tflite`` file, exactly as the device will;
* **random tokens**: random word ids with random review lengths, padded as the tokenizer pads
  (or random ``float32`` features for a model without token input).

Every output value is compared: maximum and mean absolute error, the decision agreement (for a
binary classifier: the same side of the threshold), and each model's accuracy against the labels
of the real reviews. A check passes when its maximum absolute error is within the tolerance of
:mod:`rnnx.exporter.tolerances` (``atol + rtol · |reference|``, or the overrides) and every
decision agrees.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InvalidInputError
from rnnx.exporter.tolerances import Tolerance, tolerance_for

REPORT_FORMAT = "rnnx.verify_report"
REPORT_VERSION = 1
DYNAMIC_LENGTH = 32  # time steps of random inputs for a model exported with a dynamic length


@dataclass(frozen=True)
class CheckResult:
    """One comparison of the two models on one set of inputs.

    Attributes:
        name: ``"real reviews"``, ``"held-out text"``, ``"random tokens"``, ``"random features"``
            or ``"step vs sequence"``.
        samples: number of input rows.
        max_abs_error: largest absolute difference over all outputs and rows.
        mean_abs_error: mean absolute difference.
        worst_row: the row with the largest error.
        decision_agreement: share of decisions that agree: the same side of the threshold for a
            binary classifier, the same most likely token (top-1) for a language model
            (``None`` when the task has no decision).
        metric: the task metric compared (``"accuracy"`` or ``"perplexity"``), or ``None``.
        reference_metric, converted_metric: that metric for each side (``None`` without labels).
        atol, rtol: the tolerance applied (``|error| <= atol + rtol · |reference|``).
        smallest_atol: the smallest ``atol`` that would have passed with this ``rtol``.
        passed: every value within the tolerance and, when there are decisions, all agree.
    """

    name: str
    samples: int
    max_abs_error: float
    mean_abs_error: float
    worst_row: int
    decision_agreement: float | None
    metric: str | None
    reference_metric: float | None
    converted_metric: float | None
    atol: float
    rtol: float
    smallest_atol: float
    passed: bool


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_model`; serializable with :meth:`to_dict`."""

    reference: str
    converted: str
    runtime: str
    tolerance: Tolerance
    tolerance_source: str
    checks: tuple[CheckResult, ...]
    seed: int
    environment: dict

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def to_dict(self) -> dict:
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "passed": self.passed,
            "reference": self.reference,
            "converted": self.converted,
            "runtime": self.runtime,
            "tolerance": {**asdict(self.tolerance), "source": self.tolerance_source},
            "seed": self.seed,
            "checks": [asdict(check) for check in self.checks],
            "environment": self.environment,
        }


def _version(name: str) -> str:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def _environment(runtime: str) -> dict:
    return {
        "rnnx": _version("rnnx"),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "runtime": runtime,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }


def _perplexity(logits: np.ndarray, targets: np.ndarray) -> float:
    """``exp`` of the mean cross-entropy of ``logits [n, T, V]`` for ``targets [n, T]``."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[..., None].astype(np.int64), axis=-1)
    return float(np.exp(-picked.mean()))


def compare(
    name: str,
    reference: list[np.ndarray],
    converted: list[np.ndarray],
    tolerance: Tolerance,
    labels: np.ndarray | None = None,
    threshold: float | None = None,
    top1: bool = False,
    targets: np.ndarray | None = None,
) -> CheckResult:
    """Compare the outputs of the two models on the same rows.

    Args:
        name: the check's name.
        reference, converted: the outputs in the same order, each ``[n, ...]``.
        tolerance: the allowed error (``atol + rtol · |reference|``).
        labels: ``int [n]`` true labels, for accuracies (binary tasks).
        threshold: decision threshold on the first output (binary tasks).
        top1: compare the most likely class of the first output's last axis (language models).
        targets: ``int [n, T]`` next tokens, for the perplexity of each side (language models).

    Raises:
        InvalidInputError: when the two sides' outputs differ in number or shape.
    """
    if len(reference) != len(converted):
        raise InvalidInputError(f"{name}: Keras gives {len(reference)} outputs, the .tflite file {len(converted)}")
    rows = len(reference[0])
    per_row = np.zeros(rows)
    total, count, within, smallest = 0.0, 0, True, 0.0
    for ref, conv in zip(reference, converted):
        ref, conv = np.asarray(ref, np.float64), np.asarray(conv, np.float64)
        if ref.shape != conv.shape:
            raise InvalidInputError(
                f"{name}: output shapes differ: Keras {list(ref.shape)}, .tflite {list(conv.shape)}"
            )
        error = np.abs(ref - conv).reshape(rows, -1)
        allowed = tolerance.allowed(ref.reshape(rows, -1))
        within = within and bool((error <= allowed).all())
        smallest = max(smallest, float((error - (allowed - tolerance.atol)).max()))
        per_row = np.maximum(per_row, error.max(axis=1))
        total += float(error.sum())
        count += error.size
    agreement = metric = ref_metric = conv_metric = None
    first_ref, first_conv = np.asarray(reference[0]), np.asarray(converted[0])
    if threshold is not None:
        ref_decision = first_ref.reshape(rows, -1)[:, 0] >= threshold
        conv_decision = first_conv.reshape(rows, -1)[:, 0] >= threshold
        agreement = float(np.mean(ref_decision == conv_decision))
        if labels is not None:
            metric = "accuracy"
            ref_metric = float(np.mean(ref_decision == labels.astype(bool)))
            conv_metric = float(np.mean(conv_decision == labels.astype(bool)))
    elif top1:
        agreement = float(np.mean(first_ref.argmax(axis=-1) == first_conv.argmax(axis=-1)))
        if targets is not None:
            metric = "perplexity"
            ref_metric, conv_metric = _perplexity(first_ref, targets), _perplexity(first_conv, targets)
    max_error = float(per_row.max())
    passed = within and (agreement is None or agreement == 1.0)
    return CheckResult(
        name,
        rows,
        max_error,
        total / max(count, 1),
        int(per_row.argmax()),
        agreement,
        metric,
        ref_metric,
        conv_metric,
        tolerance.atol,
        tolerance.rtol,
        max(smallest, 0.0),
        passed,
    )


def step_versus_sequence(
    predictor, inputs: np.ndarray, sequence_outputs: np.ndarray, output: str, tolerance: Tolerance
):
    """Run the ``step`` signature over each row from the zero state and compare with the whole sequence.

    For an output with a time axis (``[n, T, …]``) every step's output is compared with that
    time step of the sequence; otherwise the last step's output with the sequence's output.
    Padding is fed too: a masked model holds its state through it, an unmasked one reads it, as
    the whole-sequence signature does.
    """
    stream = predictor.stream()
    stepped = []
    for row in inputs:
        stream.reset()
        outputs = [stream.push_token(int(token))[output] for token in row]
        stepped.append(np.concatenate(outputs, axis=1)[0] if sequence_outputs.ndim == 3 else outputs[-1][0])
    return compare("step vs sequence", [np.asarray(sequence_outputs)], [np.stack(stepped)], tolerance)


def random_token_ids(
    rng: np.random.Generator, rows: int, length: int, vocabulary: int, padding: str = "pre"
) -> np.ndarray:
    """``int32 [rows, length]`` random word ids (2 … vocabulary-1) with random lengths, padded as the tokenizer pads.

    Half the rows are full length; the others are 1 … length tokens long.
    """
    ids = np.zeros((rows, length), dtype=np.int32)
    for row in range(rows):
        size = length if row % 2 == 0 else int(rng.integers(1, length + 1))
        words = rng.integers(2, max(vocabulary, 3), size=size)
        if padding == "pre":
            ids[row, length - size :] = words
        else:
            ids[row, :size] = words
    return ids


def _embedding_size(model) -> int | None:
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
    return None


def heldout_windows(text: str, tokenizer, length: int, rows: int, seed: int, fraction: float = 0.1):
    """``(inputs, targets)``: ``rows`` windows of ``length`` characters from the last ``fraction`` of ``text``.

    The windows start at random places (seeded) in the held-out part that ``rnnx train charlm``
    never trains on; targets are the inputs shifted by one character.
    """
    ids = tokenizer.encode(text)
    heldout = ids[int(len(ids) * (1.0 - fraction)) :]
    if len(heldout) <= length + 1:
        raise InvalidInputError(f"the held-out text has {len(heldout)} characters, too few for windows of {length}")
    starts = np.random.default_rng(seed).integers(0, len(heldout) - length - 1, size=rows)
    inputs = np.stack([heldout[s : s + length] for s in starts]).astype(np.int32)
    targets = np.stack([heldout[s + 1 : s + length + 1] for s in starts]).astype(np.int32)
    return inputs, targets


def verify_model(
    keras_path: str | Path,
    tflite_path: str | Path,
    data: str | Path | None = None,
    samples: int = 300,
    random_samples: int = 100,
    atol: float | None = None,
    seed: int = 0,
    runtime: str | None = None,
    step_samples: int = 8,
    rtol: float | None = None,
) -> VerifyReport:
    """Run the Keras model and the converted model on real and random inputs and compare them.

    Checks: real data (held-out IMDB test reviews for a sentiment model, held-out windows of
    the corpus for a character language model), random inputs, and ``step vs sequence`` (the
    ``step`` signature run over each row from the zero state against the whole-sequence output).

    Args:
        keras_path: the source ``.keras``/``.h5`` model.
        tflite_path: the rnnx-exported ``.tflite`` file.
        data: where the real data is: the IMDB location (see
            :func:`rnnx.models.data.imdb.find_imdb`) or the language model's corpus (file or
            folder, see :func:`rnnx.models.data.corpus.find_corpus`); ``None`` searches.
        samples: real rows to compare (0 skips the check).
        random_samples: random input rows (0 skips the check).
        atol, rtol: tolerance overrides; default from the tolerance table for the file's lowerings.
        seed: seeds the choice of real rows and the random inputs.
        runtime: interpreter package (default: the first installed).
        step_samples: rows run through the ``step`` signature (0 skips the check).

    Returns:
        A :class:`VerifyReport` (it does not raise on a mismatch: ``report.passed`` says).

    Raises:
        InputFileError, DataNotFoundError, UnsupportedModelError: unusable inputs.
        InvalidInputError: when there is nothing to compare.
    """
    from rnnx.exporter.loading import load_keras_model
    from rnnx.exporter.runtime.predictor import Predictor
    from rnnx.models.text.chars import CharTokenizer
    from rnnx.models.text.tokenizer import WordTokenizer

    predictor = Predictor(tflite_path, runtime=runtime)
    model = load_keras_model(keras_path)
    meta = predictor.metadata
    lowerings = [layer["lowering"] for layer in meta.lowering.get("layers", [])]
    table = tolerance_for(lowerings)
    tolerance = table
    if atol is not None or rtol is not None:
        given = " and ".join(name for name, value in (("--atol", atol), ("--rtol", rtol)) if value is not None)
        tolerance = Tolerance(
            table.atol if atol is None else atol, table.rtol if rtol is None else rtol, f"given with {given}"
        )
    output_names = [o["name"] for o in meta.outputs]
    kind = meta.task.get("kind")
    threshold = float(meta.task["threshold"]) if kind == "binary_classification" else None
    language_model = kind == "language_model"
    rng = np.random.default_rng(seed)
    input_name = predictor.input_names[0]
    tokenizer = predictor.tokenizer
    length = predictor.sequence_length or (tokenizer.max_tokens if tokenizer else DYNAMIC_LENGTH)

    def run_both(batch: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        reference = model.predict(batch, batch_size=256, verbose=0)
        reference = reference if isinstance(reference, (list, tuple)) else [reference]
        converted = predictor.predict_batches({input_name: batch})
        return [np.asarray(r) for r in reference], [converted[name] for name in output_names]

    checks, step_rows = [], None
    if samples > 0 and isinstance(tokenizer, WordTokenizer) and threshold is not None:
        from rnnx.models.data.imdb import find_imdb, load_imdb

        reviews = load_imdb(find_imdb(data), "test").shuffled(seed).head(samples)
        ids = predictor.encode(reviews.texts)
        reference, converted = run_both(ids)
        checks.append(compare("real reviews", reference, converted, tolerance, reviews.labels, threshold))
        step_rows = ids
    elif samples > 0 and isinstance(tokenizer, CharTokenizer) and language_model:
        from rnnx.models.data.corpus import find_corpus, read_text

        inputs, targets = heldout_windows(read_text(find_corpus(data, "timemachine")), tokenizer, length, samples, seed)
        reference, converted = run_both(inputs)
        checks.append(compare("held-out text", reference, converted, tolerance, top1=True, targets=targets))
        step_rows = inputs
    if random_samples > 0:
        spec = meta.input_spec()
        if spec.get("kind") == "token_ids":
            if isinstance(tokenizer, WordTokenizer):
                vocabulary, padding = tokenizer.num_words, tokenizer.padding
            else:
                vocabulary = tokenizer.vocab_size if tokenizer else (_embedding_size(model) or 2)
                padding = "none"
            if padding == "none":
                batch = rng.integers(1, max(vocabulary, 2), size=(random_samples, length)).astype(np.int32)
            else:
                batch = random_token_ids(rng, random_samples, length, vocabulary, padding)
            name = "random tokens"
        else:
            shape = [random_samples, length, *spec["shape"][2:]]
            batch = rng.standard_normal(shape).astype(np.float32)
            name = "random features"
        reference, converted = run_both(batch)
        checks.append(compare(name, reference, converted, tolerance, None, threshold, top1=language_model))
        step_rows = batch if step_rows is None else step_rows
    if step_samples > 0 and step_rows is not None and (meta.step or {}).get("signature"):
        rows = step_rows[:step_samples]
        output = meta.task.get("output") or output_names[0]
        sequence = predictor.predict_batches({input_name: rows})[output]
        if meta.input_spec().get("kind") == "token_ids":
            checks.append(step_versus_sequence(predictor, rows, sequence, output, tolerance))
    if not checks:
        raise InvalidInputError("nothing to verify: give --samples or --random above 0")
    source = (
        "command line"
        if atol is not None or rtol is not None
        else f"table ({', '.join(sorted(set(lowerings))) or 'none'}, float32)"
    )
    return VerifyReport(
        reference=str(keras_path),
        converted=str(tflite_path),
        runtime=predictor.runtime.describe(),
        tolerance=tolerance,
        tolerance_source=source,
        checks=tuple(checks),
        seed=seed,
        environment=_environment(predictor.runtime.describe()),
    )
