"""``fused`` lowering: one LiteRT sequence op per layer (and per direction).

* **LSTM → ``UNIDIRECTIONAL_SEQUENCE_LSTM``.** The layer is traced as a function marked the way
  Keras 2 marked its LSTM implementation (``api_implements = "lstm_…"``, six inputs ``inputs,
  init_h, init_c, kernel, recurrent_kernel, bias``, five outputs ``last_output, outputs, h, c,
  runtime``, attributes ``time_major`` and ``go_backwards``), which the TFLite converter replaces
  by the fused op. The converter writes a cell clip of 10 into the op, where Keras does not clip;
  :mod:`rnnx.exporter.lowering.rewrite` sets it back to 0 (no clipping) after conversion.
* **SimpleRNN → ``UNIDIRECTIONAL_SEQUENCE_RNN``.** The converter has no route to this op from
  TensorFlow 2, so the layer is traced as a function marked ``tfl_fusable_op`` that the converter
  keeps as a custom op named ``rnnx_sequence_rnn``; :mod:`rnnx.exporter.lowering.rewrite` then
  turns it into the builtin op, with the hidden state as a variable tensor.

In both cases the body of the marked function is rnnx's own ``loop`` lowering of the layer, so the
traced TensorFlow graph computes the same values before the converter swaps it out.

The fused ops keep their state in variable tensors across invocations; the predictor and
``rnnx verify`` reset them before every independent sequence. They ignore masks, cannot take an
initial state from another tensor, and the LSTM op does not return its final cell state: the
planner only chooses ``fused`` where none of that applies.
"""

from __future__ import annotations

import uuid

from rnnx.exporter.errors import UnsupportedModelError
from rnnx.exporter.lowering.cells import RecurrentSpec
from rnnx.exporter.lowering.loop import run_loop

RNN_CUSTOM_CODE = "rnnx_sequence_rnn"
# Keras activation name -> TFLite ActivationFunctionType name, for the fused ops' options.
FUSED_ACTIVATIONS = {"tanh": "TANH", "relu": "RELU", "relu6": "RELU6", "linear": "NONE"}


def fused_obstacle(spec: RecurrentSpec, masked: bool, has_initial_state: bool) -> str | None:
    """Why ``spec`` cannot be lowered to a fused op exactly, or ``None`` if it can.

    Args:
        spec: the layer.
        masked: whether the layer receives a mask.
        has_initial_state: whether the layer receives an initial state from another tensor.
    """
    if spec.kind == "gru":
        return "LiteRT has no fused GRU op"
    if spec.kind == "custom":
        return (
            f"its cell {spec.cell_class} is hand-written and does not declare the standard cell it computes "
            "(rnnx_equivalent())"
        )
    if masked:
        return "it receives a mask (Masking or Embedding(mask_zero=True)) and the fused op ignores masks"
    if has_initial_state:
        return "it takes an initial state from another tensor; the fused op keeps its state internally"
    if spec.kind == "lstm":
        if spec.activation_name != "tanh" or spec.recurrent_activation_name != "sigmoid":
            return (
                f"activation={spec.activation_name}, recurrent_activation={spec.recurrent_activation_name}; "
                "the fused LSTM computes tanh and sigmoid"
            )
        if spec.return_state:
            return "return_state=True needs the final cell state, which the fused LSTM op does not output"
        return None
    if spec.activation_name not in FUSED_ACTIVATIONS:
        return f"activation={spec.activation_name}; the fused RNN op supports {', '.join(FUSED_ACTIVATIONS)}"
    return None


def run_fused(spec: RecurrentSpec, inputs, mask=None, initial_state=None):
    """Run ``spec`` as a fused-op candidate; same arguments and results as ``run_loop``.

    Raises:
        UnsupportedModelError: when :func:`fused_obstacle` names an obstacle.
    """
    obstacle = fused_obstacle(spec, mask is not None, initial_state is not None)
    if obstacle:
        raise UnsupportedModelError(f"layer `{spec.name}` cannot be fused: {obstacle}")
    if spec.kind == "lstm":
        return _fused_lstm(spec, inputs)
    return _fused_rnn(spec, inputs)


def _fused_lstm(spec: RecurrentSpec, inputs):
    import tensorflow as tf

    full = RecurrentSpec(**{**spec.__dict__, "return_sequences": True, "return_state": False})

    def lstm_implementation(sequences, init_h, init_c, kernel, recurrent_kernel, bias):
        outputs, (h, c) = run_loop(full, sequences, None, [init_h, init_c])
        return outputs[:, -1], outputs, h, c, tf.constant(0.0)

    attributes = {
        "api_implements": f"lstm_{uuid.uuid4().hex}",
        "api_preferred_device": "CPU",
        "time_major": False,
        "go_backwards": spec.go_backwards,
    }
    implementation = tf.function(lstm_implementation, autograph=False, experimental_attributes=attributes)
    zeros = tf.zeros(tf.stack([tf.shape(inputs)[0], spec.units]), tf.float32)
    last, outputs, h, c, _ = implementation(
        inputs, zeros, zeros, tf.constant(spec.kernel), tf.constant(spec.recurrent_kernel), tf.constant(spec.input_bias)
    )
    return (outputs if spec.return_sequences else last), [h, c]


def _fused_rnn(spec: RecurrentSpec, inputs):
    import tensorflow as tf

    full = RecurrentSpec(**{**spec.__dict__, "return_sequences": True, "return_state": False, "go_backwards": False})
    signature = " ".join(
        [
            f'name: "{RNN_CUSTOM_CODE}"',
            'attr {key: "tfl_fusable_op" value { b: true } }',
            f'attr {{key: "activation" value {{ s: "{FUSED_ACTIVATIONS[spec.activation_name]}" }} }}',
        ]
    )

    def rnn_implementation(sequences, input_weights, recurrent_weights, bias):
        # The weights arrive transposed, as the builtin op stores them ([units, features]).
        outputs, _ = run_loop(full, sequences)
        return outputs

    implementation = tf.function(rnn_implementation, autograph=False, experimental_implements=signature)
    sequences = tf.reverse(inputs, [1]) if spec.go_backwards else inputs
    outputs = implementation(
        sequences,
        tf.constant(spec.kernel.T.copy()),
        tf.constant(spec.recurrent_kernel.T.copy()),
        tf.constant(spec.input_bias),
    )
    last = outputs[:, -1]
    return (outputs if spec.return_sequences else last), [last]
