"""``rnnx export``: a Keras model file in, a verified-structure ``.tflite`` file out.

Plan, then act, then prove:

1. load the model and :func:`~rnnx.exporter.planning.plan_export` (errors before any work);
2. convert: lower the recurrent layers, trace, freeze, convert with builtin ops only; by default
   in a child process, so that a converter crash becomes an error message, not a dead CLI;
3. read the op census back from the bytes and check it against the plan;
4. embed the ``rnnx`` metadata (tokenizer, labels, input spec, provenance);
5. write the file atomically: whole or not at all.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata as importlib_metadata
from pathlib import Path

from rnnx.exporter.errors import ConversionError, InputFileError, RnnxError
from rnnx.exporter.fileio import atomic_write_bytes
from rnnx.exporter.loading import check_model_path, file_sha256, load_keras_model
from rnnx.exporter.lowering import Lowering
from rnnx.exporter.planning import ExportPlan, plan_export
from rnnx.exporter.quantization import (
    REPRESENTATIVE_SEQUENCES,
    STEPPED_FORM,
    Quantization,
    QuantizationPlan,
    check_options,
    plan_quantization,
    representative_sequences,
)
from rnnx.exporter.runtime.interpreter import signature_outputs
from rnnx.exporter.runtime.metadata import (
    METADATA_NAME,
    PROBES_SIGNATURE,
    SERVING_SIGNATURE,
    STEP_SIGNATURE,
    ModelMetadata,
)
from rnnx.exporter.runtime.model_file import op_census, with_metadata
from rnnx.models.text import load_tokenizer as load_tokenizer_file
from rnnx.models.text.chars import CharTokenizer
from rnnx.models.text.tokenizer import WordTokenizer

TOKENIZER_FILE = "tokenizer.json"
TASK_FILE = "task.json"


@dataclass(frozen=True)
class ExportOptions:
    """Options of :func:`export_model`.

    Attributes:
        lowering: lowering of every recurrent layer.
        layer_lowerings: per-layer overrides, by Keras layer name.
        batch_size: pinned batch size of the signature; ``None`` leaves it dynamic.
        sequence_length: time steps; default: the model's fixed input length, else the
            tokenizer's ``max_tokens``.
        dynamic_length: leave the time dimension dynamic (models built with ``shape=(None, …)``).
        tokenizer: tokenizer JSON to embed; default ``tokenizer.json`` beside the model, if any.
        task: task JSON (``{"kind", "labels", "threshold", "output"}``); default ``task.json``
            beside the model, if any.
        labels: label names for a binary classifier, overriding the task file's.
        quantize: see :mod:`rnnx.exporter.quantization`.
        representative_data: calibration rows (``.npy``) or texts, instead of the training data.
        representative_samples: calibration sequences (default 200).
        integer_io: integer inputs and outputs for ``int8``/``int16x8``.
        data: where the training data is (IMDB or corpus), for calibration.
        isolate: convert in a child process (a converter crash becomes a ConversionError).
        timeout_s: limit for the child process.
    """

    lowering: Lowering = Lowering.AUTO
    layer_lowerings: Mapping[str, Lowering] = field(default_factory=dict)
    batch_size: int | None = 1
    sequence_length: int | None = None
    dynamic_length: bool = False
    tokenizer: Path | None = None
    task: Path | None = None
    labels: tuple[str, ...] | None = None
    quantize: Quantization = Quantization.NONE
    representative_data: Path | None = None
    representative_samples: int = REPRESENTATIVE_SEQUENCES
    integer_io: bool = False
    data: str | None = None
    isolate: bool = True
    timeout_s: float = 3600.0


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        output: the ``.tflite`` path.
        size_bytes: its size.
        op_census: operators per type, read back from the file.
        plan: the export plan the census was checked against.
        metadata: the embedded ``rnnx`` metadata.
    """

    output: Path
    size_bytes: int
    op_census: dict[str, int]
    plan: ExportPlan
    metadata: ModelMetadata


def _sidecar(explicit: Path | None, model_path: Path, name: str) -> Path | None:
    if explicit is not None:
        if not Path(explicit).is_file():
            raise InputFileError(f"{explicit} does not exist")
        return Path(explicit)
    candidate = model_path.parent / name
    return candidate if candidate.is_file() else None


def load_tokenizer(explicit: Path | None, model_path: Path) -> WordTokenizer | CharTokenizer | None:
    """The tokenizer to embed (explicit, else ``tokenizer.json`` beside the model, else none).

    Raises:
        InputFileError: an explicit file that is missing, or a file that is not a tokenizer.
    """
    path = _sidecar(explicit, model_path, TOKENIZER_FILE)
    if path is None:
        return None
    try:
        return load_tokenizer_file(path)
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: not a usable rnnx tokenizer ({err})") from None


def load_task(explicit: Path | None, model_path: Path, labels: tuple[str, ...] | None, output_names) -> dict:
    """The task description to embed.

    Raises:
        InputFileError: an unreadable task file or a wrong number of labels.
    """
    task: dict = {"kind": "raw", "labels": None, "threshold": None, "output": None}
    path = _sidecar(explicit, model_path, TASK_FILE)
    if path is not None:
        try:
            task.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:
            raise InputFileError(f"{path}: not a task JSON file ({err})") from None
    if labels is not None:
        task.update(kind="binary_classification", labels=list(labels))
    if task["kind"] == "multiclass_classification":
        if not task.get("labels") or len(task["labels"]) < 2:
            raise InputFileError(f"a multi-class classifier needs two or more labels, got {task.get('labels')!r}")
        task["output"] = task.get("output") or output_names[0]
        if task["output"] not in output_names:
            raise InputFileError(f"task output '{task['output']}' is not a model output ({', '.join(output_names)})")
    if task["kind"] == "binary_classification":
        if not task.get("labels") or len(task["labels"]) != 2:
            raise InputFileError(f"a binary classifier needs exactly two labels, got {task.get('labels')!r}")
        task["threshold"] = float(task.get("threshold") or 0.5)
        task["output"] = task.get("output") or output_names[0]
        if task["output"] not in output_names:
            raise InputFileError(f"task output '{task['output']}' is not a model output ({', '.join(output_names)})")
    return task


def _version(distribution: str) -> str:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def provenance(source: Path) -> dict:
    """Versions, source hash and time of an export."""
    return {
        "rnnx": _version("rnnx"),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "python": platform.python_version(),
        "source": source.name,
        "source_sha256": file_sha256(source),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }


def plan_for(model, options: ExportOptions, tokenizer: WordTokenizer | None) -> ExportPlan:
    """:func:`plan_export` with the sequence length defaulting to the tokenizer's ``max_tokens``."""
    length = options.sequence_length
    if length is None and tokenizer is not None and not options.dynamic_length:
        fixed = [t.shape[1] for t in model.inputs if len(t.shape) >= 2]
        if fixed and fixed[0] is None:
            length = tokenizer.max_tokens
    return plan_export(
        model, options.lowering, options.layer_lowerings, options.batch_size, length, options.dynamic_length
    )


def convert_model(
    model,
    plan: ExportPlan,
    with_step: bool = True,
    quantization: QuantizationPlan | None = None,
    representative=None,
    integer_io: bool = False,
) -> bytes:
    """Lower, trace and convert ``model`` as ``plan`` says, in this process.

    The file gets the ``serving_default`` signature (whole sequences; with the ``rnnx_probes``
    signature beside it) and, when ``with_step`` and the model allows it, the ``step`` signature
    (one time step with explicit states; see :mod:`rnnx.exporter.lowering.stepping`). In the
    stepped form (see :mod:`rnnx.exporter.quantization`) it gets only ``step``.

    Args:
        model: the Keras model.
        plan: its export plan.
        with_step: add the ``step`` signature when the model allows it.
        quantization: how to quantize (``None``: not at all).
        representative: calibration sequences ``[n, T, …]`` for ``int8``/``int16x8``.
        integer_io: integer inputs and outputs for integer quantization.

    Raises:
        UnsupportedModelError: a layer that cannot be lowered.
        ConversionError: the converter fails (Flex ops are listed).
    """
    from rnnx.exporter.conversion import PROBE_PREFIX, convert_signatures, signature_function
    from rnnx.exporter.lowering.keras_layers import ProbeCollector, lower_model
    from rnnx.exporter.lowering.rewrite import finish_fused_ops, split_probe_signature
    from rnnx.exporter.lowering.stepping import step_function, step_obstacle
    from rnnx.exporter.quantization import configure_converter, step_samples

    quantization = quantization or QuantizationPlan(Quantization.NONE, "sequence", "not quantized")
    stepped = quantization.form == STEPPED_FORM
    functions, input_names, samples = {}, {}, {}
    if not stepped:
        probes = ProbeCollector()
        lowered = lower_model(model, plan.lowerings, probes=probes)
        functions[SERVING_SIGNATURE] = signature_function(lowered, plan.inputs, plan.output_names, probes)
        input_names[SERVING_SIGNATURE] = [i.name for i in plan.inputs]
        if representative is not None:
            samples[SERVING_SIGNATURE] = [{plan.inputs[0].name: row[None]} for row in representative]
    if ((with_step and quantization.keeps_step_signature) or stepped) and step_obstacle(model, plan) is None:
        step, input_names[STEP_SIGNATURE], states = step_function(model, plan)
        functions[STEP_SIGNATURE] = step
        if representative is not None:
            skip = bool(plan.layers) and all(layer.masked for layer in plan.layers)
            samples[STEP_SIGNATURE] = step_samples(step, states, representative, plan.inputs[0].name, skip_padding=skip)
    fused_rnn = any(layer.lowering is Lowering.FUSED and layer.cell == "rnn" for layer in plan.layers)

    def configure(converter):
        configure_converter(converter, quantization.mode, samples, integer_io)

    converted = convert_signatures(functions, input_names, allow_custom_ops=fused_rnn, configure=configure)
    return split_probe_signature(finish_fused_ops(converted), SERVING_SIGNATURE, PROBES_SIGNATURE, PROBE_PREFIX)


def _convert_isolated(
    source: Path, plan: ExportPlan, timeout_s: float, quantization: QuantizationPlan, representative, integer_io: bool
) -> bytes:
    """Run :func:`convert_model` in a child Python process (``rnnx.exporter.conversion_worker``)."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="rnnx-convert-") as folder:
        job = Path(folder) / "job.json"
        out, result = Path(folder) / "model.tflite", Path(folder) / "result.json"
        rows = None
        if representative is not None:
            rows = Path(folder) / "representative.npy"
            np.save(rows, representative)
        job.write_text(
            json.dumps(
                {
                    "source": str(source),
                    "plan": plan.to_dict(),
                    "quantization": quantization.to_dict(),
                    "representative": None if rows is None else str(rows),
                    "integer_io": integer_io,
                    "output": str(out),
                    "result": str(result),
                }
            )
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "rnnx.exporter.conversion_worker", str(job)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(f"conversion of {source} ran past {timeout_s:.0f} s and was stopped") from None
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            what = f" with --quantize {quantization.mode.value}" if quantization.mode.value != "none" else ""
            raise ConversionError(
                f"the TFLite converter crashed ({name}) while converting {source}{what}; the model was not "
                "written. Try another --lowering or --quantize, and report the model if it persists"
            )
        if result.exists():
            status = json.loads(result.read_text())
            if status.get("error"):
                raise _rebuild_error(status)
        if proc.returncode != 0 or not out.exists():
            tail = " | ".join(line for line in proc.stderr.strip().splitlines()[-3:])
            raise ConversionError(f"the conversion process failed (exit code {proc.returncode}): {tail}")
        return out.read_bytes()


def _rebuild_error(status: Mapping) -> RnnxError:
    from rnnx.exporter import errors

    kind = getattr(errors, status.get("kind", ""), None)
    if not (isinstance(kind, type) and issubclass(kind, RnnxError)):
        kind = ConversionError
    return kind(status["error"])


SELFTEST_SENTENCES = ("A wonderful, moving film with a brilliant cast.", "A dull and badly written mess.")


def selftest_cases(model, plan: ExportPlan, tokenizer, seed: int = 0) -> list[dict]:
    """A few input rows and the Keras model's outputs for them, to embed in the file.

    The device checks with ``rnnx infer MODEL --selftest`` that its runtime reproduces them.
    Rows: two example sentences for a word-tokenizer model, two random rows otherwise, each
    repeated to fill a pinned batch.
    """
    import numpy as np

    from rnnx.exporter.runtime.arrays import encode_array
    from rnnx.models.text.tokenizer import WordTokenizer

    rng = np.random.default_rng(seed)
    spec = plan.inputs[0]
    batch = spec.shape[0] or 1
    length = spec.shape[1] if len(spec.shape) > 1 and spec.shape[1] is not None else 16
    if len(plan.inputs) != 1:
        return []
    if isinstance(tokenizer, WordTokenizer) and length == tokenizer.max_tokens:
        rows = tokenizer.encode(list(SELFTEST_SENTENCES))
    elif "int" in spec.dtype:
        high = (
            tokenizer.vocab_size if isinstance(tokenizer, CharTokenizer) else (tokenizer.num_words if tokenizer else 2)
        )
        rows = rng.integers(1, max(high, 2), size=(2, length)).astype(np.int32)
    else:
        rows = rng.standard_normal((2, length, *spec.shape[2:])).astype(np.float32)
    cases = []
    for row in rows:
        inputs = np.repeat(row[None], batch, axis=0).astype(spec.dtype)
        outputs = model.predict(inputs, verbose=0)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        cases.append(
            {
                "inputs": {spec.name: encode_array(inputs)},
                "outputs": {name: encode_array(np.asarray(value)) for name, value in zip(plan.output_names, outputs)},
            }
        )
    return cases


def _in_model_order(outputs: list[dict], names) -> list[dict]:
    """The model's outputs among a signature's, sorted as the Keras model returns them (the interpreter sorts by name)."""
    order = {name: i for i, name in enumerate(names)}
    return sorted((o for o in outputs if o["name"] in order), key=lambda o: order[o["name"]])


def explain_export(source: str | Path, options: ExportOptions = ExportOptions()) -> ExportPlan:
    """The plan :func:`export_model` would follow, without converting anything.

    Raises:
        InputFileError, UnsupportedModelError: as :func:`export_model` raises them before converting.
    """
    source = check_model_path(source)
    check_options(options.quantize, options.representative_data, options.integer_io)
    tokenizer = load_tokenizer(options.tokenizer, source)
    model = load_keras_model(source)
    plan, quantization = plan_quantization(model, plan_for(model, options, tokenizer), options.quantize)
    if quantization.mode is not Quantization.NONE:
        note = f"--quantize {quantization.mode.value}: {quantization.form} form ({quantization.reason})"
        if quantization.needs_representative_data:
            source_rows = options.representative_data or "the model's training data"
            note += f"; calibrated on {options.representative_samples} sequences of {source_rows}"
        plan = replace(plan, notes=(*plan.notes, note))
    return plan


def export_model(source: str | Path, output: str | Path, options: ExportOptions = ExportOptions()) -> ExportResult:
    """Export the Keras model at ``source`` to a ``.tflite`` file at ``output``.

    Args:
        source: ``.keras`` or ``.h5`` model file.
        output: the ``.tflite`` file to write (replaced atomically if it exists).
        options: see :class:`ExportOptions`.

    Returns:
        An :class:`ExportResult`.

    Raises:
        InputFileError: missing or corrupt inputs, or an output folder that does not exist.
        UnsupportedModelError: a layer or option combination rnnx cannot export, named precisely.
        ConversionError: the converter failed or crashed, or the op census contradicts the plan.
    """
    source, output = check_model_path(source), Path(output)
    if not output.parent.is_dir():
        raise InputFileError(f"the output folder {output.parent} does not exist")
    if output.is_dir():
        raise InputFileError(f"{output} is a folder; give a .tflite file name")
    from rnnx.exporter.lowering.stepping import step_description
    from rnnx.exporter.tolerances import tolerance_for

    check_options(options.quantize, options.representative_data, options.integer_io)
    tokenizer = load_tokenizer(options.tokenizer, source)
    model = load_keras_model(source)
    plan = plan_for(model, options, tokenizer)
    plan, quantization = plan_quantization(model, plan, options.quantize)
    task = load_task(options.task, source, options.labels, plan.output_names)
    representative, representative_source = None, None
    if quantization.needs_representative_data:
        representative, representative_source = representative_sequences(
            options.representative_data, options.data, tokenizer, plan, options.representative_samples, task=task
        )
    tolerance = tolerance_for([layer.lowering.value for layer in plan.layers], quantization.mode.value)
    if options.isolate:
        model_bytes = _convert_isolated(
            source, plan, options.timeout_s, quantization, representative, options.integer_io
        )
    else:
        model_bytes = convert_model(model, plan, True, quantization, representative, options.integer_io)
    census = op_census(model_bytes, str(output))
    plan.check_census(census)
    signature = STEP_SIGNATURE if quantization.form == STEPPED_FORM else SERVING_SIGNATURE
    meta = ModelMetadata(
        task=task,
        inputs=[{**i.to_dict(), "kind": "token_ids" if "int" in i.dtype else "features"} for i in plan.inputs],
        outputs=_in_model_order(signature_outputs(model_bytes, str(output), signature), plan.output_names),
        tokenizer=tokenizer.to_dict() if tokenizer is not None else None,
        lowering={"requested": plan.requested.value, "layers": [layer.to_dict() for layer in plan.layers]},
        op_census=census,
        provenance=provenance(source),
        step=(
            step_description(model, plan)
            if quantization.keeps_step_signature
            else {
                "signature": None,
                "reason": f"--quantize {quantization.mode.value} in the sequence form: "
                "the integer fused LSTM keeps its cell state in int16 inside the kernel, which a step "
                "signature cannot carry; --lowering stepped streams, less accurately (int8 cell state)",
            }
        ),
        selftest={
            "atol": tolerance.atol,
            "rtol": tolerance.rtol,
            "reference": "the Keras model at export time",
            "cases": selftest_cases(model, plan, tokenizer),
        },
        quantization={
            **quantization.to_dict(),
            "representative": representative_source,
            "integer_io": options.integer_io,
        },
    )
    final = with_metadata(model_bytes, METADATA_NAME, meta.to_bytes())
    atomic_write_bytes(output, final)
    return ExportResult(output, len(final), census, plan, meta)
