"""From a (lowered) Keras model to ``.tflite`` bytes with TFLite builtin ops only.

The path is the same for every model:

1. trace a ``tf.function`` per signature with pinned input shapes and named inputs/outputs;
2. save the functions as a SavedModel with those signature names;
3. convert that SavedModel with ``supported_ops = [TFLITE_BUILTINS]``.

Every weight enters the graph as a constant (:func:`signature_function`). That matters: variables
left in the graph become ``VAR_HANDLE``/``READ_VARIABLE`` ops that the converter does not
initialise (garbage outputs, or a failed ``READ_VARIABLE`` inside a ``WHILE`` body), and freezing
the graph afterwards (``convert_variables_to_constants_v2``) inlines every function and so strips
the ``api_implements`` attribute that fused LSTM lowering relies on.

When the graph needs TensorFlow (Flex / Select TF) ops the converter refuses, and
:func:`convert_signatures` raises a :class:`~rnnx.exporter.errors.ConversionError` that lists them.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence

import tensorflow as tf

from rnnx.exporter.errors import ConversionError
from rnnx.exporter.planning import TensorInfo


def constant_call(model):
    """``run(inputs) -> outputs``: ``model`` in inference mode with every weight as a constant.

    The model runs through ``stateless_call`` with each variable's current value as a constant,
    so a traced graph holds no variables: nothing for the converter to leave behind as
    ``VAR_HANDLE``/``READ_VARIABLE``, and no freezing pass that would inline (and so erase) the
    functions that fused lowerings mark for the converter.
    """
    trainable = [v.numpy() for v in model.trainable_variables]
    non_trainable = [v.numpy() for v in model.non_trainable_variables]

    def run(inputs):
        constants = [tf.constant(value) for value in trainable], [tf.constant(value) for value in non_trainable]
        outputs, _ = model.stateless_call(*constants, inputs, training=False)
        return outputs

    return run


PROBE_PREFIX = "rnnx_probe__"


def signature_function(model, inputs: Sequence[TensorInfo], output_names: Sequence[str], probes=None):
    """A ``tf.function`` calling ``model`` (inference mode) with named inputs, returning named outputs.

    Args:
        model: a Keras model with ``len(inputs)`` inputs and ``len(output_names)`` outputs.
        inputs: the signature inputs, in the model's input order.
        output_names: a name for each (flattened) model output.
        probes: the ``ProbeCollector`` the model's lowered layers fill while it runs (see
            ``keras_layers.lower_model``); each entry becomes an extra output
            ``rnnx_probe__<layer>``, moved to the ``rnnx_probes`` signature after conversion.
    """
    specs = [tf.TensorSpec(list(i.shape), tf.as_dtype(i.dtype), name=i.name) for i in inputs]
    run = constant_call(model)

    def call(*args):
        if probes is not None:
            probes.outputs.clear()
        flat = tf.nest.flatten(run(list(args) if len(args) > 1 else args[0]))
        if len(flat) != len(output_names):
            raise ValueError(f"model returned {len(flat)} outputs, expected {len(output_names)}")
        named = dict(zip(output_names, flat))
        for layer, tensor in (probes.outputs if probes is not None else {}).items():
            named[PROBE_PREFIX + layer] = tf.identity(tensor)
        return named

    return tf.function(call, input_signature=specs, autograph=False)


_FLEX_OP = re.compile(r"\btf\.([A-Z][A-Za-z0-9_]*)")


def _unsupported_ops(message: str) -> list[str]:
    return sorted(set(_FLEX_OP.findall(message)))


def convert_signatures(
    functions: Mapping[str, object],
    input_names: Mapping[str, Sequence[str]],
    allow_custom_ops: bool = False,
    configure=None,
) -> bytes:
    """Convert named ``tf.function``s (one per signature) into one ``.tflite`` flatbuffer.

    Args:
        functions: signature key → ``tf.function`` with a full ``input_signature``.
        input_names: signature key → its input names, in argument order.
        allow_custom_ops: let marked functions through as custom ops (the fused SimpleRNN marker,
            rewritten to a builtin op afterwards; the op census then rejects any custom op left).
        configure: called with the converter before converting (quantization settings).

    Returns:
        The model bytes.

    Raises:
        ConversionError: when the converter fails, naming the TensorFlow ops that have no
            builtin TFLite kernel if that is the cause.
    """
    module = tf.Module()
    for index, fn in enumerate(functions.values()):
        setattr(module, f"signature_{index}", fn)  # tracked, so the SavedModel keeps the functions
    signatures = {key: fn.get_concrete_function() for key, fn in functions.items()}
    with tempfile.TemporaryDirectory(prefix="rnnx-savedmodel-") as folder:
        tf.saved_model.save(module, folder, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=list(signatures))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = allow_custom_ops
        if configure is not None:
            configure(converter)
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
            lines = [line.strip() for line in message.splitlines() if line.strip()]
            first = next((line for line in lines if "error" in line.lower()), " ".join(lines)[:300])
            raise ConversionError(f"the TFLite converter failed: {' '.join(first.split())[:300]}") from None
