"""How far apart two models' outputs are: one :class:`OutputMetrics` per output per check.

All errors are computed in float64 from the float32 outputs. The relative error of a value is its
absolute error divided by the *scale* of its row: the largest magnitude of the reference output
for that input (all its time steps and classes), so that a tiny logit next to large ones does not
blow the relative error up. The tolerance rule is the same: ``|error| <= atol + rtol · scale``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rnnx.exporter.tolerances import Tolerance


@dataclass(frozen=True)
class OutputMetrics:
    """Differences on one output over the rows of one check.

    Attributes:
        name: the output's name.
        shape: shape of the compared arrays, ``[rows, …]``.
        max_abs, mean_abs, median_abs, p99_abs: absolute error statistics.
        max_rel, mean_rel, median_rel, p99_rel: relative error statistics (error / row scale).
        cosine: mean over rows of the cosine similarity of the flattened outputs (1 = same
            direction; 1.0 for two all-zero rows).
        worst_row: the row holding the largest absolute error.
        error_by_step: for outputs with a time axis (``[rows, T, …]``), the largest absolute
            error at each time step; ``None`` otherwise.
        first_step_over: the first time step whose error exceeds the tolerance (with a time
            axis), ``None`` when none does.
        smallest_atol: the smallest ``atol`` that would pass with the check's ``rtol`` (for the
            tolerance's statistic: every value, or 99% of them).
        within: every value (or 99% of them, for a ``p99`` tolerance) within the tolerance.
    """

    name: str
    shape: list[int]
    max_abs: float
    mean_abs: float
    median_abs: float
    p99_abs: float
    max_rel: float
    mean_rel: float
    median_rel: float
    p99_rel: float
    cosine: float
    worst_row: int
    error_by_step: list[float] | None
    first_step_over: int | None
    smallest_atol: float
    within: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _cosines(reference: np.ndarray, converted: np.ndarray) -> np.ndarray:
    dot = (reference * converted).sum(axis=1)
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(converted, axis=1)
    both_zero = norms == 0
    return np.where(both_zero, 1.0, dot / np.where(both_zero, 1.0, norms))


def output_metrics(name: str, reference, converted, tolerance: Tolerance, time_axis: bool = False) -> OutputMetrics:
    """Compare one output.

    Args:
        name: the output's name.
        reference, converted: ``[rows, …]`` arrays of the same shape.
        tolerance: decides ``within``, ``first_step_over`` and ``smallest_atol``.
        time_axis: axis 1 is time (``error_by_step`` and ``first_step_over`` are filled).

    Raises:
        ValueError: when the shapes differ.
    """
    ref = np.asarray(reference, dtype=np.float64)
    conv = np.asarray(converted, dtype=np.float64)
    if ref.shape != conv.shape:
        raise ValueError(f"output '{name}': shapes differ, reference {list(ref.shape)}, converted {list(conv.shape)}")
    rows = ref.shape[0]
    flat_ref, flat_conv = ref.reshape(rows, -1), conv.reshape(rows, -1)
    error = np.abs(flat_ref - flat_conv)
    allowed = tolerance.allowed(flat_ref)
    scale = np.maximum(np.abs(flat_ref).max(axis=1, keepdims=True), np.finfo(np.float32).tiny)
    relative = error / scale
    by_step = first_over = None
    if time_axis and ref.ndim >= 3:
        steps = ref.shape[1]
        step_error = error.reshape(rows, steps, -1)
        by_step = step_error.max(axis=(0, 2)).tolist()
        over = (step_error > allowed.reshape(rows, steps, -1)).any(axis=(0, 2))
        first_over = int(np.argmax(over)) if over.any() else None
    return OutputMetrics(
        name=name,
        shape=list(ref.shape),
        max_abs=float(error.max()),
        mean_abs=float(error.mean()),
        median_abs=float(np.median(error)),
        p99_abs=float(np.percentile(error, 99)),
        max_rel=float(relative.max()),
        mean_rel=float(relative.mean()),
        median_rel=float(np.median(relative)),
        p99_rel=float(np.percentile(relative, 99)),
        cosine=float(_cosines(flat_ref, flat_conv).mean()),
        worst_row=int(error.max(axis=1).argmax()),
        error_by_step=by_step,
        first_step_over=first_over,
        smallest_atol=max(0.0, float(_statistic(error - (allowed - tolerance.atol), tolerance.statistic))),
        within=bool(_statistic(error - allowed, tolerance.statistic) <= 0.0),
    )


def _statistic(values: np.ndarray, statistic: str) -> float:
    return float(values.max()) if statistic == "max" else float(np.percentile(values, 99))


def perplexity(logits, targets) -> float:
    """``exp`` of the mean cross-entropy of ``logits [n, T, V]`` for ``targets [n, T]``."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.asarray(targets)[..., None].astype(np.int64), axis=-1)
    return float(np.exp(-picked.mean()))
