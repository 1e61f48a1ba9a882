"""The one place rnnx imports a LiteRT interpreter.

``ai-edge-litert`` (``ai_edge_litert.interpreter``) is preferred; the older ``tflite-runtime``
(``tflite_runtime.interpreter``) is used when it is the only one installed, or when asked for.
TensorFlow's own ``tf.lite.Interpreter`` is deliberately never used: the device side must run
without TensorFlow.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from importlib import metadata

from rnnx.exporter.errors import InputFileError, MissingDependencyError
from rnnx.exporter.runtime.native_output import capture_native_stderr

RUNTIMES = {
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
}


@dataclass(frozen=True)
class Runtime:
    """An installed interpreter package.

    Attributes:
        name: distribution name (``"ai-edge-litert"`` or ``"tflite-runtime"``).
        version: its installed version.
        module: the imported ``…interpreter`` module.
    """

    name: str
    version: str
    module: object

    def describe(self) -> str:
        return f"{self.name} {self.version}"


def find_runtime(name: str | None = None) -> Runtime:
    """Import an interpreter: ``name`` if given, else the first installed of :data:`RUNTIMES`.

    Raises:
        MissingDependencyError: if the requested (or any) interpreter is not installed.
    """
    candidates = [name] if name else list(RUNTIMES)
    for candidate in candidates:
        if candidate not in RUNTIMES:
            raise MissingDependencyError(f"unknown runtime {candidate!r}; choose one of {', '.join(RUNTIMES)}")
        try:
            module = importlib.import_module(RUNTIMES[candidate])
        except ImportError:
            continue
        try:
            version = metadata.version(candidate)
        except metadata.PackageNotFoundError:
            version = "unknown"
        return Runtime(candidate, version, module)
    if name:
        raise MissingDependencyError(f"the {name} interpreter is not installed; pip install {name}, or use the default")
    raise MissingDependencyError(f"no LiteRT interpreter is installed; pip install {' or '.join(RUNTIMES)}")


def make_interpreter(
    model_bytes: bytes,
    runtime: Runtime,
    num_threads: int | None = 1,
    source: str = "model",
    xnnpack: bool = True,
    preserve_all_tensors: bool = False,
):
    """Create an interpreter for ``model_bytes``.

    Args:
        model_bytes: the ``.tflite`` flatbuffer.
        runtime: from :func:`find_runtime`.
        num_threads: CPU threads for the kernels; ``None`` lets the runtime choose.
        source: a name for error messages.
        xnnpack: apply the runtime's default delegates (XNNPACK on CPU); ``False`` runs the
            builtin kernels only.
        preserve_all_tensors: keep every intermediate tensor readable after an invocation
            (debugging; more memory).

    Raises:
        InputFileError: if the interpreter rejects the model.
    """
    options = {"model_content": model_bytes, "num_threads": num_threads}
    if not xnnpack:
        options["experimental_op_resolver_type"] = runtime.module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if preserve_all_tensors:
        options["experimental_preserve_all_tensors"] = True
    try:
        with capture_native_stderr() as log, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interpreter = runtime.module.Interpreter(**options)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        detail = (str(err).strip() or log.text.strip() or type(err).__name__).splitlines()[0]
        raise InputFileError(f"{source}: the interpreter cannot load this model: {detail}") from None
    return interpreter


def describe_signatures(interpreter) -> dict[str, dict[str, list[dict]]]:
    """Every signature's inputs and outputs: ``{key: {"inputs": [...], "outputs": [...]}}``.

    Each tensor is ``{"name", "dtype", "shape", "quantization"}``, with ``-1`` in ``shape`` (from
    ``shape_signature``) for a dynamic dimension shown as ``None``; ``quantization`` is
    ``{"scale", "zero_point"}`` for an integer-quantized tensor (real = scale · (q − zero_point))
    and ``None`` otherwise.
    """
    described = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        entry = {}
        for side, details in (("inputs", runner.get_input_details()), ("outputs", runner.get_output_details())):
            entry[side] = [
                {
                    "name": name,
                    "dtype": _dtype_name(d["dtype"]),
                    "shape": [None if int(n) < 0 else int(n) for n in d.get("shape_signature", d["shape"])],
                    "quantization": _quantization(d),
                }
                for name, d in details.items()
            ]
        described[key] = entry
    return described


def _quantization(details: dict) -> dict | None:
    scale, zero_point = details.get("quantization", (0.0, 0))
    if not scale:
        return None
    return {"scale": float(scale), "zero_point": int(zero_point)}


def _dtype_name(dtype) -> str:
    import numpy as np

    return np.dtype(dtype).name


def signature_outputs(model_bytes: bytes, source: str = "model", key: str = "serving_default") -> list[dict]:
    """The outputs of signature ``key`` (name, dtype, shape), read through the interpreter."""
    interpreter = make_interpreter(model_bytes, find_runtime(), 1, source)
    return describe_signatures(interpreter)[key]["outputs"]
