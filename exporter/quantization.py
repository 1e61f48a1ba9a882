"""Quantization: each request routed to a form and converter setting that supports it, or refused up front.

What works for recurrent models with TensorFlow 2.21's converter (measured on the seed model):

* ``float16``: float16 weights, float32 compute, for every lowering; about half the weights.
* ``dynamic`` (dynamic-range): int8 weights of 1,024 elements or more, float activations; every
  lowering (smaller recurrent weights stay float, as the converter decides).
* ``int8`` (full integer, int8 activations): calibrating a ``WHILE`` loop crashes the converter
  (segmentation fault, an open upstream bug), and an unrolled graph quantizes into a file larger
  than the float one (a tensor and its quantization parameters per step: 846 KB for the seed GRU
  at only 50 steps, with errors up to 0.40). So rnnx routes:

  - models whose recurrent layers are all fused LSTMs → the converter's integer fused LSTM
    (int8 activations, int16 cell state), whole sequences as usual, without the ``step``
    signature (see :attr:`QuantizationPlan.keeps_step_signature`);
  - every other model → the **stepped** form: the file holds only the ``step`` signature, in
    int8, and the recurrence runs one invocation per time step, driven by the caller (the
    predictor does it for whole sequences). The step graph has no loop, calibrates, and keeps one
    copy of each weight: 0.25× the float file for the seed GRU, 99% decision agreement.

* ``int16x8`` (int16 activations, int8 weights): the converter refuses it for the fused LSTM,
  and cannot calibrate an integer token input in this mode; it is offered for models with float
  inputs, in the stepped form, and refused for the others with the options that work.

The representative dataset (calibration for ``int8``/``int16x8``) is whole sequences of the
model's real training data: :data:`REPRESENTATIVE_SEQUENCES` IMDB training reviews for a sentiment
model, windows of the corpus for a language model, or the rows given with
``--representative-data``. For the stepped form, the float model is run over those sequences
and time steps at a regular stride become calibration samples (the input and every layer's
state at that step; at most :data:`STEP_SAMPLES`, see :func:`step_samples`). A masked model's
padding steps are left out: the predictor skips them too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError, UnsupportedModelError
from rnnx.exporter.lowering import Lowering

REPRESENTATIVE_SEQUENCES = 200
STEP_SEQUENCES = 200
STEP_SAMPLES = 12_000  # calibration samples at most for the step signature (whole steps: a stride)
SEQUENCE_FORM = "sequence"
STEPPED_FORM = "stepped"


class Quantization(str, Enum):
    """What to quantize (``--quantize``)."""

    NONE = "none"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"
    INT16X8 = "int16x8"


@dataclass(frozen=True)
class QuantizationPlan:
    """How a quantization request is carried out.

    Attributes:
        mode: the request.
        form: ``"sequence"`` (whole-sequence signature, as usual) or ``"stepped"`` (only the
            ``step`` signature; the caller runs the recurrence).
        reason: why this form, in a sentence.
    """

    mode: Quantization
    form: str
    reason: str

    @property
    def needs_representative_data(self) -> bool:
        return self.mode in (Quantization.INT8, Quantization.INT16X8)

    @property
    def keeps_step_signature(self) -> bool:
        """Whether a sequence-form file also gets the ``step`` signature.

        Not for integer activations: the integer fused LSTM keeps its cell state in int16 inside
        the kernel, while a step graph would carry it between invocations in int8 and so compute
        something else, and the step graph would add 18 KB of integer graph (0.05× the float file)
        to the seed model. ``--lowering stepped`` gives a streamable integer LSTM, at a cost in
        accuracy: its cell state is requantized to int8 at every step (seed LSTM, 200 test
        reviews: 97 % of decisions agree, against 99.5 % for the fused form).
        """
        return not (self.needs_representative_data and self.form == SEQUENCE_FORM)

    def to_dict(self) -> dict:
        return {"mode": self.mode.value, "form": self.form, "reason": self.reason}


def plan_quantization(model, plan, mode: Quantization | str):
    """Route ``mode`` for ``model`` (with its lowering ``plan``); returns ``(plan, QuantizationPlan)``.

    For the stepped form every recurrent layer's lowering becomes ``stepped``.

    Raises:
        UnsupportedModelError: a request no form supports for this model; the message says why
            and which modes work.
    """
    from rnnx.exporter.lowering.stepping import step_obstacle

    mode = Quantization(mode)
    if plan.layers and all(layer.lowering is Lowering.STEPPED for layer in plan.layers):
        return plan, QuantizationPlan(mode, STEPPED_FORM, "--lowering stepped")
    if mode in (Quantization.NONE, Quantization.FLOAT16, Quantization.DYNAMIC):
        return plan, QuantizationPlan(mode, SEQUENCE_FORM, "supported by every lowering")
    token_input = any("int" in tensor.dtype for tensor in plan.inputs)
    fused_lstm_only = bool(plan.layers) and all(
        layer.lowering is Lowering.FUSED and layer.cell == "lstm" for layer in plan.layers
    )
    if mode is Quantization.INT16X8:
        if token_input:
            raise UnsupportedModelError(
                "--quantize int16x8: the converter cannot calibrate the integer token input in 16x8 mode; "
                "use --quantize int8 (full integer), dynamic or float16"
            )
        if fused_lstm_only:
            raise UnsupportedModelError(
                "--quantize int16x8: the converter refuses 16x8 for the fused LSTM op; use --quantize int8 "
                "(integer fused LSTM), or --lowering loop --quantize int16x8 (stepped form)"
            )
        if any(layer.masked for layer in plan.layers):
            raise UnsupportedModelError(
                "--quantize int16x8: the converter has no 16x8 kernels for the ops a mask needs (NOT_EQUAL, "
                "REDUCE_ANY, SELECT_V2); use --quantize int8, dynamic or float16"
            )
    elif fused_lstm_only:
        return plan, QuantizationPlan(
            mode, SEQUENCE_FORM, "every recurrent layer is a fused LSTM, which has an integer kernel"
        )
    if not plan.layers:
        return plan, QuantizationPlan(mode, SEQUENCE_FORM, "no recurrent layer")
    if plan.requested not in (Lowering.AUTO, Lowering.STEPPED) or any(
        layer.reason.startswith("per-layer") for layer in plan.layers
    ):
        raise UnsupportedModelError(
            f"--quantize {mode.value} with --lowering {plan.requested.value}: a WHILE loop cannot be calibrated "
            "(the converter crashes) and an unrolled graph quantizes into a file larger than the float one, so "
            "integer recurrent layers other than the fused LSTM need the stepped form; use --lowering auto or stepped"
        )
    if any(len(tensor.shape) > 0 and tensor.shape[0] is None for tensor in plan.inputs):
        raise UnsupportedModelError(
            f"--quantize {mode.value}: the stepped integer form carries states of a fixed batch size; "
            "drop --dynamic-batch (or use --batch-size N), or use --quantize dynamic or float16"
        )
    obstacle = step_obstacle(model, plan)
    if obstacle:
        raise UnsupportedModelError(
            f"--quantize {mode.value}: integer recurrent layers need the stepped form (a WHILE loop cannot be "
            f"calibrated) and this model has no step signature: {obstacle}; use --quantize dynamic or float16"
        )
    stepped = tuple(
        replace(layer, lowering=Lowering.STEPPED, reason=f"--quantize {mode.value}: stepped form")
        for layer in plan.layers
    )
    reason = (
        "a WHILE loop cannot be calibrated (the converter crashes) and an unrolled graph quantizes into a file "
        "larger than the float one; the step graph has neither problem"
    )
    return replace(plan, layers=stepped), QuantizationPlan(mode, STEPPED_FORM, reason)


def check_options(mode: Quantization | str, representative_data, integer_io: bool) -> None:
    """Refuse options that do nothing for ``mode``.

    Raises:
        UnsupportedModelError: ``--representative-data`` or ``--integer-io`` without an integer mode.
    """
    mode = Quantization(mode)
    if mode in (Quantization.INT8, Quantization.INT16X8):
        return
    if representative_data is not None:
        raise UnsupportedModelError(
            f"--representative-data calibrates int8/int16x8; --quantize {mode.value} uses none (drop it, or use --quantize int8)"
        )
    if integer_io:
        what = "an unquantized" if mode is Quantization.NONE else f"a {mode.value}"
        raise UnsupportedModelError(
            f"--integer-io applies to --quantize int8/int16x8; {what} file has float inputs and outputs"
        )


def representative_sequences(
    path: str | Path | None,
    data,
    tokenizer,
    plan,
    count: int = REPRESENTATIVE_SEQUENCES,
    seed: int = 0,
    task: dict | None = None,
) -> tuple[np.ndarray, str]:
    """``(rows, source)``: whole input sequences for calibration, ``[count, T, …]`` as the model takes them.

    From ``path`` when given: a ``.npy`` array of model inputs, or a text file (one text per line,
    or JSON Lines with ``text``) for a word-tokenizer model, or a corpus for a character model.
    Otherwise from the model's real training data: IMDB training reviews, the training part of
    the language model's corpus, or the training split of a sensor classifier's dataset (named
    by ``task["dataset"]``).

    Raises:
        InputFileError, DataNotFoundError: unreadable or missing data.
        UnsupportedModelError: no training data is known for this model and none was given.
    """
    from rnnx.models.text.chars import CharTokenizer
    from rnnx.models.text.tokenizer import WordTokenizer

    spec = plan.inputs[0]
    length = (
        spec.shape[1] if len(spec.shape) > 1 and spec.shape[1] is not None else getattr(tokenizer, "max_tokens", 32)
    )
    rng = np.random.default_rng(seed)
    if path is not None and str(path).endswith(".npy"):
        try:
            rows = np.load(path)
        except (OSError, ValueError) as err:
            raise InputFileError(f"cannot read {path} as a .npy array: {err}") from None
        if rows.ndim < 2 or (spec.shape[1] is not None and rows.shape[1] != spec.shape[1]):
            raise InputFileError(f"{path}: representative rows must be [n, {spec.shape[1]}, …], got {list(rows.shape)}")
        return rows[:count].astype(spec.dtype), f"{path} ({min(count, len(rows))} rows)"
    if tokenizer is None and (task or {}).get("dataset"):
        from rnnx.models.data.sensors import load_sensor_dataset

        dataset = load_sensor_dataset(task["dataset"], data)
        rows = rng.permutation(len(dataset.train))[:count]
        return dataset.train.x[rows], f"{len(rows)} training sequences of {dataset.name} from {dataset.source}"
    if isinstance(tokenizer, WordTokenizer):
        if path is not None:
            from rnnx.models.data.texts import read_text_lines

            texts = read_text_lines(path)
            return tokenizer.encode(texts[:count]), f"{path} ({min(count, len(texts))} texts)"
        from rnnx.models.data.imdb import find_imdb, load_imdb

        reviews = load_imdb(find_imdb(data), "train").shuffled(seed).head(count)
        return tokenizer.encode(reviews.texts), f"{len(reviews)} IMDB training reviews from {reviews.source}"
    if isinstance(tokenizer, CharTokenizer):
        from rnnx.models.data.corpus import find_corpus, read_text

        corpus = Path(path) if path is not None else find_corpus(data, "timemachine")
        ids = tokenizer.encode(read_text(corpus))
        train = ids[: int(len(ids) * 0.9)]
        starts = rng.integers(0, max(len(train) - length, 1), size=count)
        rows = np.stack([train[s : s + length] for s in starts]).astype(np.int32)
        return rows, f"{count} windows of {length} characters from the training part of {corpus}"
    raise UnsupportedModelError(
        "calibration needs representative inputs and rnnx knows no training data for this model; "
        "pass --representative-data ROWS.npy"
    )


def step_samples(
    step_fn,
    states,
    rows: np.ndarray,
    input_name: str,
    count: int = STEP_SEQUENCES,
    stride: int | None = None,
    skip_padding: bool = False,
):
    """Calibration samples for the step signature: run the float step over ``rows`` and keep every ``stride``-th step.

    Args:
        step_fn: the float step function (``tf.function``; token and states in, dict out).
        states: the step's state specs (``.input``, ``.output``, ``.shape``).
        rows: whole input sequences ``[n, T]`` (token ids) or ``[n, T, features]``.
        input_name: the step's input name.
        count: how many of ``rows`` to run.
        stride: keep one time step in ``stride``; by default the smallest stride that keeps at
            most :data:`STEP_SAMPLES` samples (every step of short sequences; 1 in 4 for 200 IMDB
            reviews).
        skip_padding: skip token 0 (a masked model's padding, which the predictor skips too), so
            that calibration sees only states a real sequence reaches.

    Returns:
        A list of input dicts (the step's input and every state) for the converter.
    """
    import tensorflow as tf

    rows = rows[:count]
    if stride is None:
        real = int((rows != 0).sum()) if skip_padding and rows.ndim == 2 else rows.shape[0] * rows.shape[1]
        stride = max(1, -(-real // STEP_SAMPLES))
    samples = []
    for row in rows:
        current = [np.zeros(s.shape, np.float32) for s in states]
        for t in range(row.shape[0]):
            if skip_padding and row.ndim == 1 and row[t] == 0:
                continue  # a masked padding step changes nothing; the predictor skips it too
            token = row[t : t + 1][None] if row.ndim == 1 else row[None, t : t + 1]
            if t % stride == 0:
                samples.append({input_name: token.copy(), **{s.input: v.copy() for s, v in zip(states, current)}})
            out = step_fn(tf.constant(token), *[tf.constant(v) for v in current])
            current = [out[s.output].numpy() for s in states]
    return samples


def configure_converter(
    converter, mode: Quantization, samples: dict[str, list] | None, integer_io: bool = False
) -> None:
    """Set ``converter`` for ``mode``.

    Args:
        converter: a ``tf.lite.TFLiteConverter``.
        mode: the quantization.
        samples: calibration inputs by signature key (``int8``/``int16x8``).
        integer_io: make float inputs and outputs integer too (int8, or int16 for 16x8), for
            devices that feed integers; by default they stay float32 and the file quantizes inside.
    """
    import tensorflow as tf

    if mode is Quantization.NONE:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode is Quantization.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
        return
    if mode is Quantization.DYNAMIC:
        return

    def dataset():
        for key, rows in (samples or {}).items():
            for row in rows:
                yield key, row

    converter.representative_dataset = dataset
    if mode is Quantization.INT8:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = tf.int8
    else:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        io_type = tf.int16
    if integer_io:
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
