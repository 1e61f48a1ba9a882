"""The tolerances ``rnnx verify`` judges converted models by, in one table.

Keyed by ``(lowering, quantization)``; each row says why its number is what it is. A model whose
recurrent layers use several lowerings gets the loosest of their rows. ``--atol`` overrides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """Maximum absolute error allowed on every output value, with its reason."""

    atol: float
    reason: str


TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("loop", "none"): Tolerance(
        1e-5,
        "float32 both sides, same equations; only the order of float additions differs (seed GRU at T=581: 1.1e-6)",
    ),
    ("unrolled", "none"): Tolerance(
        1e-5,
        "float32 both sides, same equations; only the order of float additions differs (seed GRU at T=581: 1.1e-6)",
    ),
    ("fused", "none"): Tolerance(
        1e-5,
        "float32 LiteRT sequence kernels on the same weights; they order the gate sums differently "
        "(measured at most 5e-7 on the test models)",
    ),
    ("none", "none"): Tolerance(1e-5, "no recurrent layers; float32 both sides"),
}


def tolerance_for(lowerings: Iterable[str], quantization: str = "none") -> Tolerance:
    """The loosest table row among ``lowerings`` (``"none"`` when the model has no recurrent layer).

    Raises:
        KeyError: for a combination without a row (a bug: every exportable combination has one).
    """
    keys = sorted(set(lowerings)) or ["none"]
    rows = [TOLERANCES[(key, quantization)] for key in keys]
    return max(rows, key=lambda row: row.atol)
