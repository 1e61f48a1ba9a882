"""From a (lowered) Keras model to ``.tflite`` bytes with TFLite builtin ops only.

The path is the same for every model:

1. trace a ``tf.function`` per signature with pinned input shapes and named inputs/outputs;
2. freeze it (variables become constants: the converter cannot run ``READ_VARIABLE`` inside a
   ``WHILE`` body, which it otherwise emits for weights captured in a loop);
3. save the frozen functions as a SavedModel with those signature names;
4. convert that SavedModel with ``supported_ops = [TFLITE_BUILTINS]``.

When the graph needs TensorFlow (Flex / Select TF) ops the converter refuses, and
:func:`convert_signatures` raises a :class:`~rnnx.exporter.errors.ConversionError` that lists them.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from rnnx.exporter.errors import ConversionError
from rnnx.exporter.planning import TensorInfo


def signature_function(model, inputs: Sequence[TensorInfo], output_names: Sequence[str]):
    """A ``tf.function`` calling ``model`` (inference mode) with named inputs, returning named outputs.

    Args:
        model: a Keras model with ``len(inputs)`` inputs and ``len(output_names)`` outputs.
        inputs: the signature inputs, in the model's input order.
        output_names: a name for each (flattened) model output.
    """
    specs = [tf.TensorSpec(list(i.shape), tf.as_dtype(i.dtype), name=i.name) for i in inputs]

    def call(*args):
        outputs = model(list(args) if len(args) > 1 else args[0], training=False)
        flat = tf.nest.flatten(outputs)
        if len(flat) != len(output_names):
            raise ValueError(f"model returned {len(flat)} outputs, expected {len(output_names)}")
        return dict(zip(output_names, flat))

    return tf.function(call, input_signature=specs, autograph=False)


def _frozen(function, input_names: Sequence[str]):
    """``function`` with its variables folded into constants, same named inputs and outputs."""
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    output_names = list(concrete.structured_outputs.keys())
    specs = [
        tf.TensorSpec(s.shape, s.dtype, name=n) for s, n in zip(concrete.structured_input_signature[0], input_names)
    ]

    def call(*args):
        return dict(zip(output_names, frozen(*args)))

    return tf.function(call, input_signature=specs, autograph=False)


_FLEX_OP = re.compile(r"\btf\.([A-Z][A-Za-z0-9_]*)")


def _unsupported_ops(message: str) -> list[str]:
    return sorted(set(_FLEX_OP.findall(message)))


def convert_signatures(functions: Mapping[str, object], input_names: Mapping[str, Sequence[str]]) -> bytes:
    """Convert named ``tf.function``s (one per signature) into one ``.tflite`` flatbuffer.

    Args:
        functions: signature key → ``tf.function`` with a full ``input_signature``.
        input_names: signature key → its input names, in argument order.

    Returns:
        The model bytes.

    Raises:
        ConversionError: when the converter fails, naming the TensorFlow ops that have no
            builtin TFLite kernel if that is the cause.
    """
    module = tf.Module()
    frozen = {key: _frozen(fn, input_names[key]) for key, fn in functions.items()}
    for index, fn in enumerate(frozen.values()):
        setattr(module, f"signature_{index}", fn)  # tracked, so the SavedModel keeps the functions
    signatures = {key: fn.get_concrete_function() for key, fn in frozen.items()}
    with tempfile.TemporaryDirectory(prefix="rnnx-savedmodel-") as folder:
        tf.saved_model.save(module, folder, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=list(signatures))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return bytes(converter.convert())
        except Exception as err:  # ConverterError and friends
            message = str(err)
            ops = _unsupported_ops(message)
            if ops:
                raise ConversionError(
                    "the model needs TensorFlow ops that have no builtin TFLite kernel (Flex ops, which "
                    f"rnnx does not emit): {', '.join(ops)}; replace the layers that use them"
                ) from None
            first = next((line.strip() for line in message.splitlines() if "error" in line.lower()), message[:300])
            raise ConversionError(f"the TFLite converter failed: {first}") from None
