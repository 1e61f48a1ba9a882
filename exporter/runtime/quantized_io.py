"""Integer interfaces of quantized models: scale and zero point applied at the boundary.

A model exported with ``--quantize int8 --integer-io`` (or ``int16x8``) takes and returns integers:
``real = scale · (integer − zero_point)``. The predictor and the stream convert on the way in and
out, so callers always see real values.
"""

from __future__ import annotations

import numpy as np


def _params(detail) -> tuple[float, int]:
    quantization = detail.get("quantization", (0.0, 0))
    return float(quantization[0]), int(quantization[1])


def is_quantized(detail) -> bool:
    """An integer tensor with a scale (not a plain integer such as token ids)."""
    scale, _ = _params(detail)
    return scale != 0.0 and np.issubdtype(np.dtype(detail["dtype"]), np.integer)


def quantize(value, detail) -> np.ndarray:
    """Real values → the tensor's integers (rounded, saturated)."""
    scale, zero = _params(detail)
    dtype = np.dtype(detail["dtype"])
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(value, np.float64) / scale) + zero, info.min, info.max).astype(dtype)


def dequantize(value, detail) -> np.ndarray:
    """The tensor's integers → real values (float32)."""
    scale, zero = _params(detail)
    return ((np.asarray(value, np.float64) - zero) * scale).astype(np.float32)


def to_input(value, detail) -> np.ndarray:
    """What to feed a tensor: quantized when it is a quantized integer tensor and ``value`` is real."""
    value = np.asarray(value)
    if is_quantized(detail) and not np.issubdtype(value.dtype, np.integer):
        return quantize(value, detail)
    return value.astype(detail["dtype"], copy=False)


def from_output(value, detail) -> np.ndarray:
    """A tensor's value as real numbers (dequantized when quantized)."""
    return dequantize(value, detail) if is_quantized(detail) else np.asarray(value)
