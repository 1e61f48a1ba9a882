"""The ``rnnx`` metadata entry embedded in every exported ``.tflite`` file.

It is UTF-8 JSON in the model's ``metadata`` list under the name ``"rnnx"``; the LiteRT
interpreter ignores it. It carries what the device needs to use the model (the tokenizer
configuration and vocabulary, label names, the input and output specification) and what a person
needs to trace the file (rnnx, TensorFlow and Keras versions, the sha256 of the source model, the
lowering of each recurrent layer, the op census).

Schema version 1 (all keys present; values may be ``null`` where noted)::

    {
      "format": "rnnx.metadata", "version": 1,
      "task": {"kind": "binary_classification" | "multiclass_classification" | "language_model" | "raw",
               "labels": [str, ...] | null, "dataset": str (optional: the sensor dataset it was trained on),
               "threshold": float | null, "output": str | null},
      "inputs":  [{"name": str, "dtype": str, "shape": [int | null, ...], "kind": "token_ids" | "features"}],
      "outputs": [{"name": str, "dtype": str, "shape": [int | null, ...],
                   "quantization": {"scale": float, "zero_point": int} | null}],
      "tokenizer": {...} | null,          # rnnx.models.text.tokenizer.WordTokenizer.to_dict()
      "lowering": {"requested": str, "layers": [{"name", "layer_class", "cell", "lowering",
                                                 "reason", "directions"}]},
      "op_census": {"OP_NAME": count, ...},
      "step": {"signature": "step", "states": [{"layer", "kind": "hidden" | "cell", "input", "output",
               "shape"}]} | {"signature": null, "reason": str},
      "quantization": {"mode": "none" | "float16" | "dynamic" | "int8" | "int16x8",
                       "form": "sequence" | "stepped", "reason": str, "representative": str | null,
                       "integer_io": bool} | null,
      "selftest": {"atol": float, "rtol": float, "reference": str,
                   "cases": [{"inputs": {name: array}, "outputs": {name: array}}]} | null,
                   # arrays as rnnx.exporter.runtime.arrays.encode_array writes them
      "provenance": {"rnnx": str, "tensorflow": str, "keras": str, "source": str,
                     "source_sha256": str, "created_utc": str}
    }

The entry is stored zlib-compressed behind the 6-byte prefix ``RNNXZ1`` (the vocabulary of the
seed model is 77 KB as JSON and 37 KB compressed); plain JSON is read too.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from rnnx.exporter.errors import InputFileError

METADATA_NAME = "rnnx"
SERVING_SIGNATURE = "serving_default"
STEP_SIGNATURE = "step"
PROBES_SIGNATURE = "rnnx_probes"  # the recurrent layers' outputs, for rnnx verify
METADATA_FORMAT = "rnnx.metadata"
METADATA_VERSION = 1
COMPRESSED_PREFIX = b"RNNXZ1"


@dataclass(frozen=True)
class ModelMetadata:
    """Parsed ``rnnx`` metadata (see the module docstring for the fields)."""

    task: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    tokenizer: dict[str, Any] | None
    lowering: dict[str, Any]
    op_census: dict[str, int]
    provenance: dict[str, Any]
    step: dict[str, Any] | None = None
    selftest: dict[str, Any] | None = None
    quantization: dict[str, Any] | None = None
    version: int = METADATA_VERSION
    format: str = field(default=METADATA_FORMAT)

    def to_bytes(self) -> bytes:
        """zlib-compressed UTF-8 JSON (keys in a fixed order) behind the ``RNNXZ1`` prefix."""
        plain = json.dumps(asdict(self), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return COMPRESSED_PREFIX + zlib.compress(plain, 9)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "model") -> ModelMetadata:
        """Parse and validate an entry.

        Raises:
            InputFileError: if it is not JSON, not rnnx metadata, or of a newer version.
        """
        try:
            if data.startswith(COMPRESSED_PREFIX):
                data = zlib.decompress(data[len(COMPRESSED_PREFIX) :])
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, zlib.error):
            raise InputFileError(f"{source}: the rnnx metadata entry is not valid JSON; re-export the model") from None
        if not isinstance(raw, dict) or raw.get("format") != METADATA_FORMAT:
            raise InputFileError(f"{source}: the 'rnnx' metadata entry is not rnnx metadata; re-export the model")
        if raw.get("version") != METADATA_VERSION:
            raise InputFileError(
                f"{source}: rnnx metadata version {raw.get('version')!r} is not supported by this rnnx "
                f"(reads version {METADATA_VERSION}); upgrade rnnx or re-export the model"
            )
        optional = {"step", "selftest", "quantization"}
        try:
            return cls(**{k: raw[k] if k not in optional else raw.get(k) for k in cls.__dataclass_fields__})
        except KeyError as missing:
            raise InputFileError(f"{source}: rnnx metadata lacks the field {missing}; re-export the model") from None

    @property
    def stepped(self) -> bool:
        """The file holds only the ``step`` signature; sequences run one invocation per step."""
        return (self.quantization or {}).get("form") == "stepped"

    @property
    def labels(self) -> list[str] | None:
        return self.task.get("labels")

    def input_spec(self, name: str | None = None) -> dict[str, Any]:
        """The input named ``name`` (the first when ``None``)."""
        if name is None:
            return self.inputs[0]
        for spec in self.inputs:
            if spec["name"] == name:
                return spec
        raise KeyError(name)
