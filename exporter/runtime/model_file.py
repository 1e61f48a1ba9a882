"""Reading and amending ``.tflite`` (LiteRT) flatbuffers without TensorFlow.

Uses the flatbuffers schema bindings that ship with the LiteRT interpreter
(``ai_edge_litert.schema_py_generated``, the TFLite ``schema.fbs``), falling back to the
``tflite`` package for devices that only have ``tflite-runtime``.

* :func:`op_census` counts operators per type over every subgraph (the body of a ``WHILE`` loop
  is a subgraph of its own, so its ops count too);
* :func:`read_metadata` returns the named metadata entries (``Model.metadata``), which the
  interpreter ignores and rnnx uses to carry what the device needs;
* :func:`with_metadata` returns the model with one metadata entry added or replaced.
"""

from __future__ import annotations

import collections
from functools import lru_cache
from types import ModuleType

from rnnx.exporter.errors import InputFileError, MissingDependencyError

FILE_IDENTIFIER = b"TFL3"


@lru_cache(maxsize=1)
def schema() -> ModuleType:
    """The generated TFLite schema module.

    Raises:
        MissingDependencyError: if neither ``ai-edge-litert`` nor ``tflite`` is installed.
    """
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        try:
            import tflite as schema_py_generated  # type: ignore[no-redef]
        except ImportError:
            raise MissingDependencyError(
                "reading .tflite files needs ai-edge-litert (pip install ai-edge-litert) or the tflite package"
            ) from None
    return schema_py_generated


def _root(model_bytes: bytes, source: str):
    """The flatbuffer ``Model`` table, after checking that the bytes are a TFLite model."""
    fb = schema()
    if len(model_bytes) < 8 or model_bytes[4:8] != FILE_IDENTIFIER:
        raise InputFileError(f"{source} is not a .tflite model (no TFL3 identifier); re-export it")
    try:
        model = fb.Model.GetRootAsModel(model_bytes, 0)
        model.SubgraphsLength()
    except Exception as err:  # truncated or corrupt buffers fail in several ways
        raise InputFileError(f"{source} is a corrupt .tflite model ({type(err).__name__}); re-export it") from None
    return model


@lru_cache(maxsize=1)
def _operator_names() -> dict[int, str]:
    ops = schema().BuiltinOperator
    return {value: name for name, value in vars(ops).items() if not name.startswith("_") and isinstance(value, int)}


def op_census(model_bytes: bytes, source: str = "model") -> dict[str, int]:
    """Count operators by type across all subgraphs.

    Builtin ops are named as in the schema (``WHILE``, ``FULLY_CONNECTED``,
    ``UNIDIRECTIONAL_SEQUENCE_LSTM``…); custom ops (Flex included) by their custom code.

    Raises:
        InputFileError: if the bytes are not a readable TFLite model.
    """
    model = _root(model_bytes, source)
    names = _operator_names()
    counts: collections.Counter[str] = collections.Counter()
    try:
        codes = []
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if names.get(builtin) == "CUSTOM":
                codes.append((code.CustomCode() or b"?").decode("utf-8", "replace"))
            else:
                codes.append(names.get(builtin, f"BUILTIN_{builtin}"))
        for s in range(model.SubgraphsLength()):
            graph = model.Subgraphs(s)
            for o in range(graph.OperatorsLength()):
                counts[codes[graph.Operators(o).OpcodeIndex()]] += 1
    except Exception as err:
        raise InputFileError(f"{source} is a corrupt .tflite model ({type(err).__name__}); re-export it") from None
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def read_metadata(model_bytes: bytes, source: str = "model") -> dict[str, bytes]:
    """All metadata entries, by name, as raw bytes.

    Raises:
        InputFileError: if the bytes are not a readable TFLite model.
    """
    model = _root(model_bytes, source)
    entries = {}
    try:
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            name = (entry.Name() or b"").decode("utf-8", "replace")
            buffer = model.Buffers(entry.Buffer())
            offset = buffer.Offset() if hasattr(buffer, "Offset") else 0
            if offset > 1:  # stored after the flatbuffer (models over 2 GB)
                data = bytes(model_bytes[offset : offset + buffer.Size()])
            else:
                data = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
            entries[name] = data
    except Exception as err:
        raise InputFileError(f"{source} has corrupt metadata ({type(err).__name__}); re-export it") from None
    return entries


def with_metadata(model_bytes: bytes, name: str, data: bytes) -> bytes:
    """Return the model with metadata entry ``name`` set to ``data`` (replacing one of that name).

    The model is rebuilt through the schema's object API; operators, tensors, buffers and
    signatures are kept as they are.

    Raises:
        InputFileError: if the bytes are not a readable TFLite model.
    """
    import flatbuffers
    import numpy as np

    fb = schema()
    _root(model_bytes, "model")
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers = list(model.buffers or [])
    kept = [m for m in (model.metadata or []) if (m.name or b"") not in (name, name.encode())]
    model.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = kept + [entry]
    builder = flatbuffers.Builder(len(model_bytes) + len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def has_variable_tensors(model_bytes: bytes, source: str = "model") -> bool:
    """Whether any tensor is a variable tensor (state kept between invocations, as fused RNN ops do).

    Raises:
        InputFileError: if the bytes are not a readable TFLite model.
    """
    model = _root(model_bytes, source)
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for t in range(graph.TensorsLength()):
            if graph.Tensors(t).IsVariable():
                return True
    return False


def tensor_types(model_bytes: bytes, source: str = "model") -> dict[str, dict[str, int]]:
    """Tensors per type over every subgraph: ``{type: {"tensors", "constants", "quantized", "bytes"}}``.

    ``constants`` have data in the file (weights), ``quantized`` carry a scale (integer
    quantization), ``bytes`` is the size of the constants' data. Types are the schema's names
    (``FLOAT32``, ``INT8``, ``INT16``, ``FLOAT16`` …).

    Raises:
        InputFileError: if the bytes are not a readable TFLite model.
    """
    fb = schema()
    model = _root(model_bytes, source)
    names = {value: name for name, value in vars(fb.TensorType).items() if not name.startswith("_")}
    sizes = {}
    for b in range(model.BuffersLength()):
        sizes[b] = model.Buffers(b).DataLength()
    counts: dict[str, dict[str, int]] = {}
    seen = set()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            entry = counts.setdefault(
                names.get(tensor.Type(), str(tensor.Type())), {"tensors": 0, "constants": 0, "quantized": 0, "bytes": 0}
            )
            entry["tensors"] += 1
            size = sizes.get(tensor.Buffer(), 0)
            if size:
                entry["constants"] += 1
                if tensor.Buffer() not in seen:  # a buffer shared between subgraphs counts once
                    seen.add(tensor.Buffer())
                    entry["bytes"] += size
            quantization = tensor.Quantization()
            if quantization is not None and quantization.ScaleLength() > 0:
                entry["quantized"] += 1
    return dict(sorted(counts.items()))
