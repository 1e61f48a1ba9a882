"""The checks ``rnnx verify`` runs, each returning a :class:`~rnnx.exporter.verification.report.CheckResult`.

* values: Keras against the ``.tflite`` file on the same rows (real data, random inputs, other
  sequence lengths and batch sizes where the file allows them, other runtimes);
* consistency: the file against itself: the ``step`` signature run over each row from the zero
  state against the whole sequence; the same input twice in a row; two inputs back to back
  against the second one alone in a fresh interpreter (state that leaks between invocations);
  a stream reset back to the zero state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnx.exporter.tolerances import Tolerance
from rnnx.exporter.verification.report import CheckResult, Compared, judge


@dataclass
class Session:
    """What every check needs: the two models, the tolerance and the task's conventions.

    Attributes:
        predictor: the ``.tflite`` file on the chosen runtime.
        model: the Keras model.
        tolerance: the tolerance applied.
        seed: the run's seed.
    """

    predictor: object
    model: object
    tolerance: Tolerance
    seed: int

    @property
    def meta(self):
        return self.predictor.metadata

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self.meta.outputs]

    @property
    def input_name(self) -> str:
        return self.predictor.input_names[0]

    @property
    def threshold(self) -> float | None:
        task = self.meta.task
        return float(task["threshold"]) if task.get("kind") == "binary_classification" else None

    @property
    def top1(self) -> bool:
        return self.meta.task.get("kind") in ("language_model", "multiclass_classification")

    def keras(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The Keras model's outputs, by the file's output names."""
        outputs = self.model.predict(batch, batch_size=256, verbose=0)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {name: np.asarray(value) for name, value in zip(self.output_names, outputs)}

    def tflite(self, batch: np.ndarray, predictor=None) -> dict[str, np.ndarray]:
        outputs = (predictor or self.predictor).predict_batches({self.input_name: batch})
        return {name: outputs[name] for name in self.output_names}

    def compared(self, reference, converted, labels=None, targets=None) -> Compared:
        return Compared(
            {name: (reference[name], converted[name]) for name in self.output_names},
            {name: np.ndim(reference[name]) >= 3 for name in self.output_names},
            labels,
            targets,
            self.threshold,
            self.top1,
        )


def values_check(
    session: Session, name: str, inputs, labels=None, targets=None, predictor=None, note=None
) -> CheckResult:
    """Keras against the ``.tflite`` file on ``inputs`` (``[rows, T, …]``)."""
    reference = session.keras(inputs)
    converted = session.tflite(inputs, predictor)
    compared = session.compared(reference, converted, labels, targets)
    return judge(name, "values", compared, session.tolerance, session.seed, note=note)


def _consistency(session: Session, name: str, first: dict, second: dict, note: str) -> CheckResult:
    compared = Compared(
        {n: (first[n], second[n]) for n in first}, {n: np.ndim(first[n]) >= 3 for n in first}, None, None, None, False
    )
    return judge(name, "consistency", compared, session.tolerance, session.seed, note=note)


def step_check(session: Session, rows: np.ndarray) -> CheckResult:
    """The ``step`` signature over each row from the zero state against ``serving_default``.

    Padding is fed too: a masked model holds its state through it, an unmasked one reads it, as
    the whole-sequence signature does. For an output with a time axis every step is compared
    (the error along time); otherwise the last step's output.
    """
    output = session.meta.task.get("output") or session.output_names[0]
    whole = session.tflite(rows)[output]
    stream = session.predictor.stream()
    stepped = []
    name = stream.input_names[0]
    for row in rows:
        stream.reset()
        if np.issubdtype(np.asarray(row).dtype, np.integer):
            steps = [stream.push_token(int(token))[output] for token in row]
        else:  # features: one [1, 1, channels] step at a time
            steps = [stream.push({name: row[t][None, None]})[output] for t in range(len(row))]
        stepped.append(np.concatenate(steps, axis=1)[0] if whole.ndim >= 3 else steps[-1][0])
    note = "the step signature run step by step from the zero state, against the whole sequence"
    return _consistency(session, "step vs sequence", {output: whole}, {output: np.stack(stepped)}, note)


def repeat_check(session: Session, rows: np.ndarray) -> CheckResult:
    """The same inputs twice in a row must give the same outputs (no state kept between invocations)."""
    first = session.tflite(rows)
    second = session.tflite(rows)
    return _consistency(session, "same input twice", first, second, "the same rows run twice in a row")


def back_to_back_check(session: Session, first_rows: np.ndarray, second_rows: np.ndarray) -> CheckResult:
    """``second_rows`` right after ``first_rows`` against ``second_rows`` in a fresh interpreter."""
    from rnnx.exporter.runtime.predictor import Predictor

    session.tflite(first_rows)
    after = session.tflite(second_rows)
    current = session.predictor
    fresh = Predictor(current.model_bytes, current.num_threads, current.runtime.name, current.xnnpack)
    alone = session.tflite(second_rows, fresh)
    note = "rows run right after other rows, against the same rows in a fresh interpreter"
    return _consistency(session, "back to back", alone, after, note)


def reset_check(session: Session, rows: np.ndarray) -> CheckResult:
    """A stream reset returns to the zero state: each row run after a reset repeats its run from a fresh stream."""
    output = session.meta.task.get("output") or session.output_names[0]
    stream = session.predictor.stream()

    name = stream.input_names[0]

    def push(value):
        if np.ndim(value) == 0:
            return stream.push_token(int(value))
        return stream.push({name: np.asarray(value)[None, None]})  # one step of features

    def run(row):
        return np.concatenate([push(t)[output].reshape(1, -1) for t in row], axis=0)

    first, again, zero = [], [], True
    for row in rows:
        first.append(run(row))
        stream.reset()
        zero = zero and all(np.abs(v).max() == 0 for v in stream.state.values())
        again.append(run(row))
        stream.reset()
    result = _consistency(
        session,
        "stream reset",
        {output: np.stack(first)},
        {output: np.stack(again)},
        "each row streamed, the stream reset, and the row streamed again; the state after reset() is zero",
    )
    if zero:
        return result
    return CheckResult(
        result.name,
        result.kind,
        result.rows,
        result.seed,
        result.outputs,
        passed=False,
        note="after reset() the stream's state is not zero",
        compared=result.compared,
    )


def runtime_checks(session: Session, inputs: np.ndarray, configurations) -> list[CheckResult]:
    """The values check on ``inputs`` under each other runtime configuration ``(runtime, threads, xnnpack)``.

    Checks are named ``"<runtime> <threads>t ±xnnpack"``, e.g. ``"litert 2t -xnnpack"``.
    """
    from rnnx.exporter.runtime.predictor import Predictor

    results = []
    for runtime, threads, xnnpack in configurations:
        other = Predictor(session.predictor.model_bytes, threads, runtime, xnnpack)
        short = {"ai-edge-litert": "litert", "tflite-runtime": "tflite-rt"}.get(runtime, runtime)
        name = f"{short} {threads}t {'+' if xnnpack else '-'}xnnpack"
        results.append(values_check(session, name, inputs, predictor=other))
    return results
