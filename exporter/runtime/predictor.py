"""The device predictor: runs an rnnx-exported ``.tflite`` model with numpy and LiteRT only.

>>> predictor = Predictor("sentiment.tflite")
>>> predictor.classify(["A wonderful, moving film."])[0].label
'positive'

The interpreter is created once, in the constructor, and reused for every input. Texts are
tokenized with the tokenizer embedded in the file, so the device sees exactly the token ids that
training produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError, InvalidInputError
from rnnx.exporter.runtime.interpreter import Runtime, find_runtime, make_interpreter
from rnnx.exporter.runtime.metadata import METADATA_NAME, SERVING_SIGNATURE, STEP_SIGNATURE, ModelMetadata
from rnnx.exporter.runtime.model_file import has_variable_tensors, read_metadata
from rnnx.exporter.runtime.quantized_io import from_output, to_input
from rnnx.exporter.runtime.streaming import Stream
from rnnx.models.text import tokenizer_from_dict
from rnnx.models.text.chars import CharTokenizer
from rnnx.models.text.tokenizer import WordTokenizer, split_words

DYNAMIC_BATCH_CHUNK = 256  # rows per invocation for a model exported with a dynamic batch size


@dataclass(frozen=True)
class Classification:
    """One classified input.

    Attributes:
        probability: a binary classifier's output for the positive class, in [0, 1]; a
            multi-class classifier's probability of the chosen class.
        label: the label name (binary: ``labels[1]`` when ``probability >= threshold``, else
            ``labels[0]``; multi-class: the most likely class).
        label_index: the index of ``label`` in the task's labels.
        probabilities: a multi-class classifier's output for every class (``None`` for binary).
    """

    probability: float
    label: str
    label_index: int
    probabilities: tuple[float, ...] | None = None


def read_model_file(path: str | Path) -> bytes:
    """The bytes of a ``.tflite`` file.

    Raises:
        InputFileError: if it does not exist, is a folder, is unreadable or is empty.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path} does not exist")
    if path.is_dir():
        raise InputFileError(f"{path} is a folder; give the .tflite file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputFileError(f"cannot read {path}: {err.strerror}") from None
    if not data:
        raise InputFileError(f"{path} is empty")
    return data


def load_metadata(model_bytes: bytes, source: str) -> ModelMetadata:
    """The ``rnnx`` metadata of a model.

    Raises:
        InputFileError: a corrupt file, or one exported without rnnx (no ``rnnx`` entry).
    """
    entries = read_metadata(model_bytes, source)
    if METADATA_NAME not in entries:
        raise InputFileError(
            f"{source} carries no rnnx metadata (was it exported with `rnnx export`?); "
            "export the Keras model with rnnx to embed the tokenizer and labels"
        )
    return ModelMetadata.from_bytes(entries[METADATA_NAME], source)


class Predictor:
    """Runs an rnnx-exported model.

    Args:
        model: path to the ``.tflite`` file (or its bytes).
        num_threads: interpreter threads (default 1, the usual setting on small devices).
        runtime: ``"ai-edge-litert"`` or ``"tflite-runtime"``; the first installed when ``None``.
        xnnpack: use the runtime's default XNNPACK delegate (``False``: builtin kernels only).

    Raises:
        InputFileError: missing, corrupt or non-rnnx model file.
        MissingDependencyError: no interpreter installed.
    """

    def __init__(
        self, model: str | Path | bytes, num_threads: int | None = 1, runtime: str | None = None, xnnpack: bool = True
    ):
        self.source = "model" if isinstance(model, bytes) else str(model)
        self.model_bytes = model if isinstance(model, bytes) else read_model_file(model)
        self.metadata = load_metadata(self.model_bytes, self.source)
        self.tokenizer = None
        if self.metadata.tokenizer is not None:
            try:
                self.tokenizer = tokenizer_from_dict(self.metadata.tokenizer)
            except ValueError as err:
                raise InputFileError(f"{self.source}: embedded tokenizer is unusable: {err}") from None
        self.runtime: Runtime = find_runtime(runtime)
        self.num_threads = num_threads
        self.xnnpack = xnnpack
        self._interpreter = make_interpreter(self.model_bytes, self.runtime, num_threads, self.source, xnnpack)
        signatures = self._interpreter.get_signature_list()
        self.stepped = self.metadata.stepped
        self._other_runners: dict = {}
        self._stateful = has_variable_tensors(self.model_bytes, self.source)
        if self.stepped:
            if STEP_SIGNATURE not in signatures:
                raise InputFileError(f"{self.source} is stepped but has no '{STEP_SIGNATURE}' signature; re-export it")
            self._runner = None
            self._input_details = {
                spec["name"]: {
                    "shape": [d if d is not None else 1 for d in spec["shape"]],
                    "shape_signature": [d if d is not None else -1 for d in spec["shape"]],
                    "dtype": np.dtype(spec["dtype"]),
                    "quantization": (0.0, 0),
                }
                for spec in self.metadata.inputs
            }
            self._output_details: dict = {}
            self._stream: Stream | None = None
            return
        if SERVING_SIGNATURE not in signatures:
            raise InputFileError(f"{self.source} has no '{SERVING_SIGNATURE}' signature; re-export it with rnnx")
        self._runner = self._interpreter.get_signature_runner(SERVING_SIGNATURE)
        self._input_details = self._runner.get_input_details()
        self._output_details = self._runner.get_output_details()

    @property
    def input_names(self) -> list[str]:
        return [spec["name"] for spec in self.metadata.inputs]

    def _signature_shape(self, name: str) -> list[int | None]:
        detail = self._input_details[name]
        shape = detail.get("shape_signature", detail["shape"])
        return [None if int(d) < 0 else int(d) for d in shape]

    @property
    def batch_size(self) -> int | None:
        """The batch size the model was exported with; ``None`` when it is dynamic."""
        return self._signature_shape(self.input_names[0])[0]

    @property
    def sequence_length(self) -> int | None:
        """Time steps ``T`` of the first input; ``None`` when dynamic."""
        shape = self._signature_shape(self.input_names[0])
        return shape[1] if len(shape) > 1 else None

    def run(self, inputs: Mapping[str, np.ndarray], signature: str | None = None) -> dict[str, np.ndarray]:
        """One invocation of ``serving_default`` with inputs of the exported shapes (any size where dynamic).

        Variable tensors (the state of fused recurrent ops) are reset first, so every call
        starts from the zero state.

        Raises:
            InvalidInputError: a missing input, or one of the wrong shape.
        """
        if self.stepped and signature in (None, SERVING_SIGNATURE):
            return self._run_stepped(inputs)
        feed = {}
        for name, detail in self._input_details.items():
            if name not in inputs:
                raise InvalidInputError(f"missing input '{name}'; the model takes {', '.join(self._input_details)}")
            value = np.asarray(inputs[name])
            expected = self._signature_shape(name)
            fits = len(value.shape) == len(expected) and all(e is None or e == v for e, v in zip(expected, value.shape))
            if not fits:
                shown = [("any" if e is None else e) for e in expected]
                raise InvalidInputError(
                    f"input '{name}' must have shape {shown} ({np.dtype(detail['dtype']).name}), got {list(value.shape)}"
                )
            feed[name] = to_input(value, detail)
        if self._stateful:
            self._interpreter.reset_all_variables()
        runner = self._signature_runner(signature)
        details = self._output_details if runner is self._runner else runner.get_output_details()
        return {name: from_output(value, details[name]) for name, value in runner(**feed).items()}

    def _run_stepped(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A whole-sequence run of a stepped file: every row through the step signature from the zero state.

        An output with a time axis in the step (``[B, 1, …]``) is stacked over the steps; any
        other output is the last step's.
        """
        arrays = {name: np.asarray(inputs[name]) for name in self._input_details if name in inputs}
        missing = [name for name in self._input_details if name not in arrays]
        if missing:
            raise InvalidInputError(f"missing input '{missing[0]}'; the model takes {', '.join(self._input_details)}")
        if self._stream is None:
            self._stream = self.stream()
        stream = self._stream
        first = next(iter(arrays.values()))
        rows, steps = first.shape[0], first.shape[1]
        skip = bool((self.metadata.step or {}).get("skips_padding")) and len(arrays) == 1 and first.ndim == 2
        results: dict[str, list] = {}
        for row in range(rows):
            stream.reset()
            per_step, previous = [], None
            for t in range(steps):
                if skip and int(first[row, t]) == 0 and previous is not None:
                    per_step.append(previous)  # masked padding: states and output unchanged
                    continue
                previous = stream.push({n: a[row : row + 1, t : t + 1] for n, a in arrays.items()})
                per_step.append(previous)
            for name in per_step[0]:
                values = [p[name] for p in per_step]
                stacked = np.concatenate(values, axis=1) if values[0].ndim >= 3 else values[-1]
                results.setdefault(name, []).append(stacked)
        return {name: np.concatenate(parts, axis=0) for name, parts in results.items()}

    def _signature_runner(self, signature: str | None):
        if signature is None or signature == SERVING_SIGNATURE:
            return self._runner
        if signature not in self._other_runners:
            if signature not in self._interpreter.get_signature_list():
                raise InputFileError(f"{self.source} has no '{signature}' signature")
            self._other_runners[signature] = self._interpreter.get_signature_runner(signature)
        return self._other_runners[signature]

    @property
    def signatures(self) -> list[str]:
        """The signature keys in the file."""
        return list(self._interpreter.get_signature_list())

    def predict_batches(self, inputs: Mapping[str, np.ndarray], signature: str | None = None) -> dict[str, np.ndarray]:
        """Run ``n`` rows per input through the model in batches of :attr:`batch_size`.

        Args:
            inputs: every signature input, each ``[n, ...]`` with the exported per-row shape.
            signature: another signature of the same inputs to run instead of
                ``serving_default`` (``rnnx_probes``: the recurrent layers' outputs).

        Returns:
            Every output, ``[n, ...]``, by name.

        Raises:
            InvalidInputError: missing inputs, unequal row counts, or rows of the wrong shape.
            InputFileError: an unknown signature.
        """
        arrays = {name: np.asarray(value) for name, value in inputs.items()}
        counts = {len(a) for a in arrays.values()}
        if len(counts) != 1:
            raise InvalidInputError(f"inputs have different numbers of rows: {sorted(counts)}")
        (rows,) = counts
        if rows == 0:
            raise InvalidInputError("no input rows to run")
        batch = self.batch_size or min(rows, DYNAMIC_BATCH_CHUNK)
        results: dict[str, list[np.ndarray]] = {}
        for start in range(0, rows, batch):
            feed = {}
            for name, detail in self._input_details.items():
                chunk = arrays.get(name)
                if chunk is None:
                    raise InvalidInputError(f"missing input '{name}'; the model takes {', '.join(self._input_details)}")
                chunk = chunk[start : start + batch]
                padded = np.zeros((batch, *chunk.shape[1:]), dtype=detail["dtype"])
                padded[: len(chunk)] = chunk
                feed[name] = padded
            for name, value in self.run(feed, signature).items():
                results.setdefault(name, []).append(value[: min(batch, rows - start)])
        return {name: np.concatenate(parts, axis=0) for name, parts in results.items()}

    def predict_ids(self, token_ids: np.ndarray, output: str | None = None) -> np.ndarray:
        """Run ``int32 [n, T]`` token ids through the model; the task's output (else the first).

        Raises:
            InvalidInputError: rows of the wrong length.
        """
        ids = np.asarray(token_ids)
        length = self.sequence_length
        if ids.ndim != 2 or (length is not None and ids.shape[1] != length):
            raise InvalidInputError(f"token ids must have shape [n, {length or 'T'}], got {list(ids.shape)}")
        name = output or self.metadata.task.get("output") or self.metadata.outputs[0]["name"]
        return self.predict_batches({self.input_names[0]: ids})[name]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids (``int32 [n, T]``) of ``texts`` with the embedded tokenizer.

        Raises:
            InvalidInputError: if the model has no tokenizer or a text is empty.
        """
        if not isinstance(self.tokenizer, WordTokenizer):
            raise InvalidInputError(
                f"{self.source} carries no word tokenizer; re-export it with --tokenizer tokenizer.json"
            )
        for i, text in enumerate(texts):
            if not text.strip():
                raise InvalidInputError(f"input {i + 1} is an empty text; give at least one word")
            if not split_words(text):
                raise InvalidInputError(
                    f"input {i + 1} has no words, only punctuation or symbols ({text[:40]!r}); give at least one word"
                )
        return self.tokenizer.encode(texts)

    def stream(self) -> Stream:
        """A :class:`~rnnx.exporter.runtime.streaming.Stream` over the ``step`` signature, from the zero state.

        Raises:
            InputFileError: if the model has no ``step`` signature.
        """
        return Stream(self._interpreter, self.metadata, self.tokenizer, self.source)

    def generate(self, prefix: str, length: int, temperature: float = 1.0, seed: int | None = 0) -> str:
        """Continue ``prefix`` by ``length`` characters with a character language model.

        The prefix (normalised as training text was, its final space kept) warms the state up one
        character at a time (the ``step`` signature), then each next character is drawn from
        ``softmax(logits / temperature)`` with a numpy generator seeded by ``seed`` (the same
        seed gives the same text); ``temperature = 0`` takes the most likely character (the
        book's greedy ``predict_ch8``). The unknown token is never generated.

        Returns:
            The prepared prefix followed by the generated characters.

        Raises:
            InvalidInputError: a model that is not a character language model, an empty prefix,
                or a negative temperature or length.
            InputFileError: a model without a ``step`` signature.
        """
        if not isinstance(self.tokenizer, CharTokenizer) or self.metadata.task.get("kind") != "language_model":
            raise InvalidInputError(f"{self.source} is not a character language model; --generate needs one")
        if temperature < 0 or length < 0:
            raise InvalidInputError("temperature and length must not be negative")
        ids = list(self.tokenizer.encode(prefix, strip=False))
        if not ids:
            raise InvalidInputError("the prefix has no characters the model knows; give at least one letter")
        stream = self.stream()
        output = self.metadata.task.get("output") or stream.output_names[0]
        rng = np.random.default_rng(seed)
        logits = None
        for token in ids:
            logits = stream.push_token(token)[output].reshape(-1)
        for _ in range(length):
            logits = logits.astype(np.float64)
            logits[0] = -np.inf  # <unk>
            if temperature == 0:
                token = int(np.argmax(logits))
            else:
                scaled = logits / temperature
                probabilities = np.exp(scaled - scaled.max())
                token = int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))
            ids.append(token)
            logits = stream.push_token(token)[output].reshape(-1)
        return self.tokenizer.decode(ids)

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify texts with a binary-classification model.

        Raises:
            InvalidInputError: for a model of another task, or an empty text.
        """
        task = self.metadata.task
        if task.get("kind") != "binary_classification":
            hint = "use --generate or --stream" if task.get("kind") == "language_model" else "use Predictor.run"
            raise InvalidInputError(f"{self.source} is not a binary classifier (task {task.get('kind')!r}); {hint}")
        probabilities = self.predict_ids(self.encode(texts)).reshape(len(texts), -1)[:, 0]
        labels, threshold = task["labels"], float(task.get("threshold", 0.5))
        out = []
        for p in probabilities:
            index = int(p >= threshold)
            out.append(Classification(float(p), labels[index], index))
        return out

    @property
    def takes_features(self) -> bool:
        """Whether the model's input is numeric features (``[batch, T, channels]``) rather than token ids."""
        return self.metadata.input_spec().get("kind") == "features"

    @property
    def masks_padding(self) -> bool:
        """Whether every recurrent layer masks its padding (shorter sequences may be zero-padded)."""
        layers = self.metadata.lowering.get("layers", [])
        return bool(layers) and all(layer.get("masked") for layer in layers)

    def classify_sequences(self, sequences: Sequence[np.ndarray]) -> list[Classification]:
        """Classify numeric sequences (each ``[steps, channels]``) with a feature classifier.

        Shorter sequences are zero-padded at the end when the model masks its padding.

        Raises:
            InvalidInputError: a model without feature input or classifier task, or sequences of
                the wrong shape (see :func:`rnnx.exporter.runtime.sequences.stack_sequences`).
        """
        from rnnx.exporter.runtime.sequences import stack_sequences

        if not self.takes_features:
            raise InvalidInputError(f"{self.source} takes token ids, not numeric sequences; give texts")
        spec = self.metadata.input_spec()
        shape = spec["shape"]
        batch = stack_sequences(list(sequences), shape[1], int(shape[2]), self.masks_padding)
        outputs = self.predict_batches({spec["name"]: batch})
        return self._classifications(outputs)

    def _classifications(self, outputs: Mapping[str, np.ndarray]) -> list[Classification]:
        task = self.metadata.task
        kind = task.get("kind")
        if kind not in ("binary_classification", "multiclass_classification"):
            raise InvalidInputError(f"{self.source} is not a classifier (task {kind!r}); use Predictor.run")
        name = task.get("output") or self.metadata.outputs[0]["name"]
        values = np.asarray(outputs[name], dtype=np.float64).reshape(len(outputs[name]), -1)
        labels = task["labels"]
        if kind == "binary_classification":
            threshold = float(task.get("threshold", 0.5))
            return [Classification(float(p), labels[int(p >= threshold)], int(p >= threshold)) for p in values[:, 0]]
        return [
            Classification(float(row.max()), labels[int(row.argmax())], int(row.argmax()), tuple(float(v) for v in row))
            for row in values
        ]
