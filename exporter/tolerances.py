"""The tolerances ``rnnx verify`` judges converted models by, in one table.

Keyed by ``(lowering, quantization)``; each row says why its numbers are what they are. A value
passes when ``|converted − reference| <= atol + rtol · scale``, where ``scale`` is the largest
magnitude of the reference output for the same input row (all its time steps and classes).
``atol`` bounds the error on small outputs such as probabilities; ``rtol`` lets float32 rounding
grow with the size of the numbers the output is computed from: in a trained language model the
logits reach 30 and more, and a hidden-state difference of 1e-6 becomes 4e-5 on every logit,
large or small, after the output layer. A model whose recurrent layers use several lowerings gets
the loosest of their rows. ``--atol`` / ``--rtol`` override.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FLOAT32_ORDER = "float32 both sides, same equations; only the order of float additions differs"


@dataclass(frozen=True)
class Tolerance:
    """Allowed error ``atol + rtol · scale`` on every output value, with its reason."""

    atol: float
    rtol: float
    reason: str

    def allowed(self, reference_rows):
        """The allowed error for each value of ``reference_rows`` (``[rows, values]``), same shape."""
        import numpy as np

        rows = np.abs(np.asarray(reference_rows, dtype=np.float64))
        scale = rows.max(axis=1, keepdims=True) if rows.size else rows
        return self.atol + self.rtol * np.broadcast_to(scale, rows.shape)


TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("loop", "none"): Tolerance(
        1e-5, 1e-5, f"{FLOAT32_ORDER} (seed GRU at T=581: 2.5e-6 on probabilities; char LM logits: 4e-5 on |30|)"
    ),
    ("unrolled", "none"): Tolerance(
        1e-5, 1e-5, f"{FLOAT32_ORDER} (seed GRU at T=581: 2.5e-6 on probabilities; char LM logits: 4e-5 on |30|)"
    ),
    ("fused", "none"): Tolerance(
        1e-5,
        1e-5,
        "float32 LiteRT sequence kernels on the same weights; they order the gate sums differently "
        "(test models: at most 5e-7; char LM logits: 6e-5 on |30|)",
    ),
    ("none", "none"): Tolerance(1e-5, 1e-5, "no recurrent layers; float32 both sides"),
}


def tolerance_for(lowerings: Iterable[str], quantization: str = "none") -> Tolerance:
    """The loosest table row among ``lowerings`` (``"none"`` when the model has no recurrent layer).

    Raises:
        KeyError: for a combination without a row (a bug: every exportable combination has one).
    """
    keys = sorted(set(lowerings)) or ["none"]
    rows = [TOLERANCES[(key, quantization)] for key in keys]
    return max(rows, key=lambda row: (row.atol, row.rtol))
