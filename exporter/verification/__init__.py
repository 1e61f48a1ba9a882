"""``rnnx verify``: does the ``.tflite`` file compute what the Keras model computes, in every way that matters?

:func:`verify_model` runs, on the runtime chosen (``ai-edge-litert`` by default; threads and
XNNPACK as asked):

1. **values** on real held-out data (IMDB test reviews for a sentiment model, held-out text for a
   character language model) and on random inputs, with the task metric of each side;
2. **the recurrent layers** one by one (the file's ``rnnx_probes`` signature against the Keras
   layers' outputs): the error at every time step, and the first layer and step beyond tolerance;
3. **state**: the ``step`` signature run T times from the zero state against the whole sequence;
   the same input twice; two inputs back to back against a fresh interpreter; a stream reset;
4. **sweeps** over sequence lengths (1, 8, the export length, twice it) and batch sizes (1, 3, 8)
   where the file leaves them dynamic;
5. optionally **other runtimes**: every installed interpreter, with and without XNNPACK, with one
   and several threads.

Every check is judged against one tolerance (``|error| <= atol + rtol · scale``, from the table
in :mod:`rnnx.exporter.tolerances` or the overrides). The result is a
:class:`~rnnx.exporter.verification.report.VerifyReport`: data that saves to JSON, re-judges
against other tolerances without the models (:func:`recheck`), and renders as a table and a PNG.
"""

from __future__ import annotations

import os
import platform
from dataclasses import replace
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InvalidInputError
from rnnx.exporter.tolerances import tolerance_for
from rnnx.exporter.verification.checks import (
    Session,
    back_to_back_check,
    repeat_check,
    reset_check,
    runtime_checks,
    step_check,
    values_check,
)
from rnnx.exporter.verification.inputs import perturbed_rows, random_inputs, real_data
from rnnx.exporter.verification.localize import first_divergence, layer_outputs
from rnnx.exporter.verification.report import (
    CheckResult,
    Compared,
    VerifyReport,
    judge,
    load_report,
    plot_error_by_step,
    recheck,
    save_report,
)

__all__ = [
    "CheckResult",
    "VerifyReport",
    "load_report",
    "plot_error_by_step",
    "recheck",
    "save_report",
    "verify_model",
]

DYNAMIC_LENGTH = 32  # time steps of random inputs for a model exported with a dynamic length


def _version(name: str) -> str:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def environment(runtime: str) -> dict:
    """Versions and machine, for the report."""
    return {
        "rnnx": _version("rnnx"),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "runtime": runtime,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def _embedding_size(model) -> int | None:
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
    return None


def layers_check(session: Session, rows: np.ndarray, name: str = "recurrent layers") -> CheckResult | None:
    """Each recurrent layer's output (Keras against the file), with the error along time."""
    layers = layer_outputs(session, rows)
    if not layers:
        return None
    compared = Compared(
        {f"layer {layer}": (ref, conv) for layer, ref, conv in layers},
        {f"layer {layer}": np.ndim(ref) >= 3 for layer, ref, _ in layers},
    )
    result = judge(name, "values", compared, session.tolerance, session.seed, note="each recurrent layer's own output")
    return result if result.passed else replace(result, divergence=first_divergence(list(result.outputs)))


def _localized(session: Session, check: CheckResult, rows: np.ndarray) -> CheckResult:
    """A failed values check, with the layer and time step where its difference starts."""
    if check.passed or check.kind != "values":
        return check
    layers = layers_check(session, rows)
    if layers is None:
        return check
    divergence = layers.divergence or {
        "layer": None,
        "time_step": None,
        "note": "every recurrent layer agrees: the difference arises after them",
    }
    return replace(check, divergence=divergence)


def available_runtimes() -> list[str]:
    """The interpreter packages installed here."""
    import importlib.util

    from rnnx.exporter.runtime.interpreter import RUNTIMES

    found = []
    for name, module in RUNTIMES.items():
        try:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                found.append(name)
        except (ImportError, ValueError):
            continue
    return found


def verify_model(
    keras_path: str | Path,
    tflite_path: str | Path,
    data: str | Path | None = None,
    samples: int = 300,
    random_samples: int = 100,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
    runtime: str | None = None,
    threads: int = 1,
    xnnpack: bool = True,
    step_samples: int = 8,
    state_samples: int = 4,
    all_runtimes: bool = False,
    length: int | None = None,
) -> VerifyReport:
    """Run the Keras model and the converted model on the same inputs and compare them every way.

    Args:
        keras_path: the source ``.keras``/``.h5`` model.
        tflite_path: the rnnx-exported ``.tflite`` file.
        data: the real data: an IMDB location (:func:`rnnx.models.data.imdb.find_imdb`) or a
            language model's corpus file or folder; ``None`` searches the usual places.
        samples: real rows (0 skips the real-data check).
        random_samples: random rows (0 skips the random-input check).
        atol, rtol: tolerance overrides; default from the tolerance table for the file's lowerings.
        seed: seeds the choice of real rows and the random inputs.
        runtime: interpreter package (default: the first installed).
        threads: interpreter threads.
        xnnpack: use the XNNPACK delegate.
        step_samples: rows for the step-against-sequence check (0 skips it).
        state_samples: rows for the state checks (0 skips them).
        all_runtimes: repeat the values check under every installed runtime, with and without
            XNNPACK, with one thread and with every core.
        length: time steps of the random inputs when the file's length is dynamic (default: the
            tokenizer's ``max_tokens``, else 32); the sweep covers 1, 8, it and twice it.

    Returns:
        A :class:`VerifyReport` (it does not raise on a mismatch: ``report.passed`` says).

    Raises:
        InputFileError, DataNotFoundError, UnsupportedModelError: unusable inputs.
        InvalidInputError: when there is nothing to compare.
    """
    from rnnx.exporter.loading import load_keras_model
    from rnnx.exporter.runtime.predictor import Predictor

    predictor = Predictor(tflite_path, threads, runtime, xnnpack)
    model = load_keras_model(keras_path)
    meta = predictor.metadata
    lowerings = [layer["lowering"] for layer in meta.lowering.get("layers", [])]
    quantization = (meta.quantization or {}).get("mode", "none")
    table = tolerance_for(lowerings, quantization)
    tolerance = table
    if atol is not None or rtol is not None:
        given = " and ".join(name for name, value in (("--atol", atol), ("--rtol", rtol)) if value is not None)
        tolerance = replace(
            table,
            atol=table.atol if atol is None else atol,
            rtol=table.rtol if rtol is None else rtol,
            reason=f"given with {given}",
        )
    session = Session(predictor, model, tolerance, seed)
    rng = np.random.default_rng(seed)
    tokenizer = predictor.tokenizer
    length = predictor.sequence_length or length or (tokenizer.max_tokens if tokenizer is not None else DYNAMIC_LENGTH)

    checks: list[CheckResult] = []
    real = real_data(predictor, data, samples, seed, length)
    probe_rows = None
    if real is not None:
        check = values_check(
            session, real.name, real.inputs, real.labels, real.targets, note=f"rows from {real.source}"
        )
        checks.append(_localized(session, check, real.inputs))
        probe_rows = real.inputs
    name, random_rows = (None, None)
    if random_samples > 0:
        like = real.inputs if real is not None and real.inputs.ndim == 3 else None
        if like is not None and quantization != "none":
            name, random_rows = "perturbed features", perturbed_rows(like, random_samples, rng)
            scaled = ": real rows plus noise of 0.1 × each channel's std (inside the calibrated ranges)"
        else:
            name, random_rows = random_inputs(predictor, random_samples, length, rng, _embedding_size(model), like)
            scaled = ", each channel scaled like the real rows" if like is not None else ""
        check = values_check(session, name, random_rows, note=f"random inputs drawn with seed {seed}{scaled}")
        checks.append(_localized(session, check, random_rows))
        probe_rows = random_rows if probe_rows is None else probe_rows
    if probe_rows is None:
        raise InvalidInputError("nothing to verify: give --samples or --random above 0")
    layers = layers_check(session, probe_rows[: max(step_samples, 16)])
    if layers is not None:
        checks.append(layers)
    step_signature = (meta.step or {}).get("signature")
    has_step = step_signature is not None and step_signature in predictor.signatures
    if step_samples > 0 and has_step and not predictor.stepped and len(predictor.input_names) == 1:
        checks.append(step_check(session, probe_rows[:step_samples]))
    if state_samples > 0:
        rows = probe_rows[:state_samples]
        other = (random_rows if random_rows is not None else probe_rows)[-state_samples:]
        checks.append(repeat_check(session, rows))
        checks.append(back_to_back_check(session, other, rows))
        if has_step and not predictor.stepped and len(predictor.input_names) == 1:
            checks.append(reset_check(session, rows[:2]))
    checks.extend(_sweeps(session, predictor, length, rng, model))
    if all_runtimes:
        cores = os.cpu_count() or 1
        configurations = [
            (name, count, delegate)
            for name in available_runtimes()
            for delegate in (True, False)
            for count in sorted({1, cores})
            if (name, count, delegate) != (predictor.runtime.name, threads, xnnpack)
        ]
        checks.extend(runtime_checks(session, probe_rows, configurations))
    source = (
        "command line"
        if atol is not None or rtol is not None
        else f"table ({', '.join(sorted(set(lowerings))) or 'none'}, {'float32' if quantization == 'none' else quantization})"
    )
    return VerifyReport(
        reference=str(keras_path),
        converted=str(tflite_path),
        runtime={
            "name": predictor.runtime.name,
            "version": predictor.runtime.version,
            "threads": threads,
            "xnnpack": xnnpack,
        },
        tolerance=tolerance,
        tolerance_source=source,
        checks=tuple(checks),
        seed=seed,
        environment=environment(predictor.runtime.describe()),
        lowering=meta.lowering.get("layers", []),
    )


def _sweeps(session: Session, predictor, length: int, rng, model) -> list[CheckResult]:
    """Values checks at other lengths and batch sizes, where the file leaves them dynamic."""
    results = []
    if predictor.sequence_length is None:
        for steps in sorted({1, 8, length, 2 * length}):
            _, rows = random_inputs(predictor, 8, steps, rng, _embedding_size(model))
            check = values_check(session, f"length {steps}", rows, note="the file takes any sequence length")
            results.append(_localized(session, check, rows))
    if predictor.batch_size is None:
        for batch in (1, 3, 8):
            _, rows = random_inputs(predictor, batch, length, rng, _embedding_size(model))
            results.append(values_check(session, f"batch {batch}", rows, note="the file takes any batch size"))
    return results
