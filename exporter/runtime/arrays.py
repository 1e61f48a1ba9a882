"""numpy arrays inside JSON (metadata self-tests, verification reports): dtype, shape, base64 bytes."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def encode_array(array) -> dict[str, Any]:
    """``{"dtype", "shape", "base64"}`` of ``array`` (little-endian bytes)."""
    array = np.ascontiguousarray(array)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "base64": base64.b64encode(little.tobytes()).decode("ascii"),
    }


def decode_array(data: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array`.

    Raises:
        ValueError: when the entry is malformed or its bytes do not match its shape.
    """
    try:
        dtype = np.dtype(data["dtype"]).newbyteorder("<")
        raw = base64.b64decode(data["base64"], validate=True)
        return np.frombuffer(raw, dtype=dtype).reshape(data["shape"]).astype(dtype.newbyteorder("="))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"malformed array entry: {err}") from None
