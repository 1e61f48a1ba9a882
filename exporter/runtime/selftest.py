"""On-device self-test: does this runtime reproduce the results recorded at export time?

``rnnx export`` embeds a few input rows and the Keras model's outputs for them, with the
tolerance of the file's lowering, in the ``rnnx`` metadata. :func:`run_selftest` runs those rows
on the device's interpreter and compares (``|error| <= atol + rtol · scale of the row``, the rule
of ``rnnx verify``). TensorFlow-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnx.exporter.errors import InputFileError
from rnnx.exporter.runtime.arrays import decode_array


@dataclass(frozen=True)
class SelfTestResult:
    """The outcome of :func:`run_selftest`.

    Attributes:
        passed: every value of every case within the tolerance.
        cases: number of recorded cases run.
        max_abs_error: the largest absolute difference found.
        atol, rtol: the recorded tolerance.
        runtime: the interpreter that ran them.
    """

    passed: bool
    cases: int
    max_abs_error: float
    atol: float
    rtol: float
    runtime: str


def run_selftest(predictor) -> SelfTestResult:
    """Run the embedded cases on ``predictor``'s interpreter and compare with the recorded outputs.

    Raises:
        InputFileError: a file without self-test cases, or damaged ones.
    """
    selftest = predictor.metadata.selftest or {}
    cases = selftest.get("cases") or []
    if not cases:
        raise InputFileError(f"{predictor.source} carries no self-test cases; re-export it with this rnnx")
    atol, rtol = float(selftest["atol"]), float(selftest["rtol"])
    worst, passed = 0.0, True
    try:
        for case in cases:
            inputs = {name: decode_array(value) for name, value in case["inputs"].items()}
            outputs = predictor.run(inputs)
            for name, expected in case["outputs"].items():
                reference = decode_array(expected).astype(np.float64)
                got = np.asarray(outputs[name], dtype=np.float64)
                rows = reference.reshape(len(reference), -1)
                error = np.abs(got.reshape(rows.shape) - rows)
                scale = np.abs(rows).max(axis=1, keepdims=True)
                passed = passed and bool((error <= atol + rtol * scale).all())
                worst = max(worst, float(error.max()))
    except (KeyError, ValueError) as err:
        raise InputFileError(f"{predictor.source}: damaged self-test cases ({err}); re-export it") from None
    return SelfTestResult(passed, len(cases), worst, atol, rtol, predictor.runtime.describe())
