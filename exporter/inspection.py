"""``rnnx inspect`` as a library call: everything about a ``.tflite`` file, TensorFlow-free."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rnnx.exporter.runtime.interpreter import describe_signatures, find_runtime, make_interpreter
from rnnx.exporter.runtime.metadata import METADATA_NAME, ModelMetadata
from rnnx.exporter.runtime.model_file import op_census, read_metadata, schema, tensor_types
from rnnx.exporter.runtime.predictor import read_model_file


def inspect_model(path: str | Path) -> dict:
    """Describe a ``.tflite`` file.

    Returns:
        ``{"path", "size_bytes", "subgraphs", "signatures", "op_census", "tensor_types",
        "metadata_entries", "rnnx"}`` (``tensor_types``: see
        :func:`rnnx.exporter.runtime.model_file.tensor_types`; signature tensors carry their
        scale and zero point when quantized); ``rnnx`` is the parsed rnnx metadata with the vocabulary replaced by its size
        (``None`` for a file not exported by rnnx).

    Raises:
        InputFileError: a missing, corrupt or unloadable file.
    """
    data = read_model_file(path)
    census = op_census(data, str(path))
    entries = read_metadata(data, str(path))
    interpreter = make_interpreter(data, find_runtime(), 1, str(path))
    model = schema().Model.GetRootAsModel(data, 0)
    rnnx = None
    if METADATA_NAME in entries:
        rnnx = asdict(ModelMetadata.from_bytes(entries[METADATA_NAME], str(path)))
        if rnnx.get("tokenizer"):
            tokenizer = dict(rnnx["tokenizer"])
            words = tokenizer.pop("vocabulary", None) or tokenizer.pop("chars", None) or []
            tokenizer["vocabulary_size"] = len(words.split("\n") if isinstance(words, str) else words)
            rnnx["tokenizer"] = tokenizer
    return {
        "path": str(path),
        "size_bytes": len(data),
        "subgraphs": model.SubgraphsLength(),
        "signatures": describe_signatures(interpreter),
        "op_census": census,
        "tensor_types": tensor_types(data, str(path)),
        "metadata_entries": sorted(entries),
        "rnnx": rnnx,
    }
