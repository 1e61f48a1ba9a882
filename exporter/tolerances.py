"""The tolerances ``rnnx verify`` judges converted models by, in one table.

Keyed by ``(lowering, quantization)``; each row says why its numbers are what they are. A value
passes when ``|converted − reference| <= atol + rtol · scale``, where ``scale`` is the largest
magnitude of the reference output for the same input row (all its time steps and classes).
``atol`` bounds the error on small outputs such as probabilities; ``rtol`` lets float32 rounding
grow with the size of the numbers the output is computed from: in a trained language model the
logits reach 30 and more, and a hidden-state difference of 1e-6 becomes 4e-5 on every logit,
large or small, after the output layer.

Float rows judge the largest error (``statistic="max"``) and want every decision to agree.
Quantized rows judge the 99th percentile of the errors (a quantized model is wrong by more than
rounding on a few inputs by design) and accept a small share of flipped decisions
(``min_agreement``). The task metric of each side is in the report beside them. A model whose
recurrent layers use several lowerings gets the loosest of their rows. ``--atol`` / ``--rtol``
override.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FLOAT32_ORDER = "float32 both sides, same equations; only the order of float additions differs"


@dataclass(frozen=True)
class Tolerance:
    """Allowed error ``atol + rtol · scale`` on every output value, with its reason.

    Attributes:
        atol, rtol: the bound.
        reason: why, with the measurements behind it.
        statistic: ``"max"`` (every value) or ``"p99"`` (99% of the values) must be within it.
        min_agreement: the least share of decisions (threshold side, top-1) that must agree.
    """

    atol: float
    rtol: float
    reason: str
    statistic: str = "max"
    min_agreement: float = 1.0

    def allowed(self, reference_rows):
        """The allowed error for each value of ``reference_rows`` (``[rows, values]``), same shape."""
        import numpy as np

        rows = np.abs(np.asarray(reference_rows, dtype=np.float64))
        scale = rows.max(axis=1, keepdims=True) if rows.size else rows
        return self.atol + self.rtol * np.broadcast_to(scale, rows.shape)


_FLOAT = {
    "loop": Tolerance(
        1e-5, 1e-5, f"{FLOAT32_ORDER} (seed GRU at T=581: 2.5e-6 on probabilities; char LM logits: 4e-5 on |30|)"
    ),
    "unrolled": Tolerance(
        1e-5, 1e-5, f"{FLOAT32_ORDER} (seed GRU at T=581: 2.5e-6 on probabilities; char LM logits: 4e-5 on |30|)"
    ),
    "fused": Tolerance(
        1e-5,
        1e-5,
        "float32 LiteRT sequence kernels on the same weights; they order the gate sums differently "
        "(test models: at most 5e-7; char LM logits: 6e-5 on |30|)",
    ),
    "stepped": Tolerance(1e-5, 1e-5, f"{FLOAT32_ORDER}; the step graph runs the cell's equations once per step"),
    "none": Tolerance(1e-5, 1e-5, "no recurrent layers; float32 both sides"),
}
_QUANTIZED = {
    "float16": Tolerance(
        5e-3,
        5e-3,
        "float16 weights (11-bit mantissa), float32 compute (seed GRU / LSTM, 5,000 test reviews: max 4.2e-3 / 2.7e-3 on probabilities, 99.98% agreement)",
        "max",
        0.995,
    ),
    "dynamic": Tolerance(
        0.05,
        0.05,
        "int8 weights, float activations quantized on the fly (seed GRU / LSTM, 5,000 test reviews: 99th percentile 0.048 / 0.047, max 0.12 / 0.14, 99.5% / 99.6% agreement)",
        "p99",
        0.98,
    ),
    "int8": Tolerance(
        0.1,
        0.1,
        "int8 weights and activations (seed GRU stepped / LSTM fused, 5,000 test reviews: 99th percentile 0.10 / 0.076, max 0.23 / 0.23, 99.1% agreement)",
        "p99",
        0.97,
    ),
    "int16x8": Tolerance(
        0.02, 0.02, "int16 activations, int8 weights (test GRU on random features: max 3.4e-3)", "p99", 0.99
    ),
}

TOLERANCES: dict[tuple[str, str], Tolerance] = {
    **{(lowering, "none"): row for lowering, row in _FLOAT.items()},
    **{(lowering, mode): row for lowering in _FLOAT for mode, row in _QUANTIZED.items()},
}


def tolerance_for(lowerings: Iterable[str], quantization: str = "none") -> Tolerance:
    """The loosest table row among ``lowerings`` (``"none"`` when the model has no recurrent layer).

    Raises:
        KeyError: for a combination without a row (a bug: every exportable combination has one).
    """
    keys = sorted(set(lowerings)) or ["none"]
    rows = [TOLERANCES[(key, quantization)] for key in keys]
    return max(rows, key=lambda row: (row.atol, row.rtol))
