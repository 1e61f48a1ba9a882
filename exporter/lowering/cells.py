"""The three standard recurrent cells as TensorFlow ops, with weights frozen as constants.

A :class:`RecurrentSpec` is read from a Keras 3 ``SimpleRNN``, ``GRU`` or ``LSTM`` layer (or an
``RNN`` wrapping one of their cells). It splits each cell into

* :meth:`RecurrentSpec.project_inputs`: ``x W + b`` for **all** time steps at once, one matrix
  product hoisted out of the recurrence, and
* :meth:`RecurrentSpec.step`: the recurrent part of one time step, from the projected input and
  the previous state.

The equations are the ones Keras implements (same gate order in the fused weight matrices):

* SimpleRNN (Elman, 1990): ``h_t = act(x_t W + b + h_{t-1} U)``;
* GRU (Cho et al., 2014, "Learning Phrase Representations using RNN Encoder-Decoder"), gates
  ``[z, r, h̃]``: ``z = σ(x W_z + h U_z + b_z)``, ``r = σ(x W_r + h U_r + b_r)``,
  ``h̃ = act(x W_h + r ⊙ (h U_h + b'_h) + b_h)`` with ``reset_after=True`` (the cuDNN form and the
  Keras default) or ``h̃ = act(x W_h + (r ⊙ h) U_h + b_h)`` with ``reset_after=False``, then
  ``h_t = z ⊙ h + (1 − z) ⊙ h̃``;
* LSTM (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al., 2000), gates
  ``[i, f, c̃, o]``: ``c_t = σ(f) ⊙ c + σ(i) ⊙ act(c̃)``, ``h_t = σ(o) ⊙ act(c_t)``.

Here ``σ`` is the layer's ``recurrent_activation`` and ``act`` its ``activation``. Shapes: inputs
``float32 [batch, time, features]``, hidden state ``[batch, units]``, LSTM cell state
``[batch, units]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rnnx.exporter.errors import UnsupportedModelError

CELL_KINDS = {"SimpleRNNCell": "rnn", "GRUCell": "gru", "LSTMCell": "lstm"}
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


@dataclass(frozen=True, eq=False)
class RecurrentSpec:
    """Everything needed to recompute one recurrent layer, with its weights as numpy arrays.

    Attributes:
        name: the Keras layer name.
        kind: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        units: width ``U`` of the hidden state.
        kernel: ``float32 [features, G*U]`` input weights (``G`` = 1, 3, 4 gates).
        recurrent_kernel: ``float32 [U, G*U]``.
        input_bias: ``float32 [G*U]`` bias added to the input projection (zeros without bias).
        recurrent_bias: ``float32 [G*U]`` bias inside the reset gate (GRU ``reset_after`` only).
        activation, recurrent_activation: the layer's own activation callables.
        activation_name, recurrent_activation_name: their names, for plans and errors.
        reset_after: GRU variant (see the module docstring).
        return_sequences, return_state, go_backwards, zero_output_for_mask: as on the layer.
    """

    name: str
    kind: str
    units: int
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    input_bias: np.ndarray
    recurrent_bias: np.ndarray | None
    activation: Callable
    recurrent_activation: Callable | None
    activation_name: str
    recurrent_activation_name: str | None
    reset_after: bool
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    zero_output_for_mask: bool

    @property
    def state_count(self) -> int:
        """Number of state tensors: 2 for LSTM (hidden, cell), else 1 (hidden)."""
        return 2 if self.kind == "lstm" else 1

    def project_inputs(self, x):
        """``x W + b`` for every time step: ``[B, T, F]`` → ``float32 [B, T, G*U]``."""
        import tensorflow as tf

        batch, time = tf.shape(x)[0], tf.shape(x)[1]
        flat = tf.reshape(x, [-1, self.kernel.shape[0]])
        projected = tf.matmul(flat, tf.constant(self.kernel)) + tf.constant(self.input_bias)
        static = [x.shape[0], x.shape[1], self.kernel.shape[1]]
        out = tf.reshape(projected, tf.stack([batch, time, self.kernel.shape[1]]))
        out.set_shape(static)
        return out

    def step(self, projected_t, states: Sequence):
        """One time step: projected input ``[B, G*U]`` and states → ``(output, new_states)``."""
        import tensorflow as tf

        u = self.units
        h = states[0]
        recurrent = tf.constant(self.recurrent_kernel)
        if self.kind == "rnn":
            h_new = self.activation(projected_t + tf.matmul(h, recurrent))
            return h_new, [h_new]
        if self.kind == "lstm":
            z = projected_t + tf.matmul(h, recurrent)
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
            act, gate = self.activation, self.recurrent_activation
            c_new = gate(z_f) * states[1] + gate(z_i) * act(z_c)
            h_new = gate(z_o) * act(c_new)
            return h_new, [h_new, c_new]
        x_z, x_r, x_h = tf.split(projected_t, 3, axis=-1)
        gate = self.recurrent_activation
        if self.reset_after:
            inner = tf.matmul(h, recurrent)
            if self.recurrent_bias is not None:
                inner = inner + tf.constant(self.recurrent_bias)
            r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
            z = gate(x_z + r_z)
            r = gate(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            inner = tf.matmul(h, recurrent[:, : 2 * u])
            z = gate(x_z + inner[:, :u])
            r = gate(x_r + inner[:, u:])
            candidate = self.activation(x_h + tf.matmul(r * h, recurrent[:, 2 * u :]))
        h_new = z * h + (1.0 - z) * candidate
        return h_new, [h_new]

    def zero_states(self, batch):
        """Zero initial states, each ``float32 [batch, U]``."""
        import tensorflow as tf

        return [tf.zeros(tf.stack([batch, self.units]), tf.float32) for _ in range(self.state_count)]


def _activation_name(fn) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name)


def recurrent_spec(layer) -> RecurrentSpec:
    """Read a :class:`RecurrentSpec` from a built Keras recurrent layer.

    Args:
        layer: a built ``keras.layers.RNN`` subclass whose cell is a ``SimpleRNNCell``,
            ``GRUCell`` or ``LSTMCell`` (``SimpleRNN``, ``GRU``, ``LSTM`` or ``RNN(cell)``).

    Raises:
        UnsupportedModelError: for another cell, a stateful layer, an unbuilt layer, or a
            non-float32 layer; the message names the layer and says what to do.
    """
    cell = getattr(layer, "cell", None)
    cell_class = type(cell).__name__
    kind = CELL_KINDS.get(cell_class)
    where = f"layer `{layer.name}` ({type(layer).__name__})"
    if kind is None:
        raise UnsupportedModelError(
            f"{where} uses the cell {cell_class}, which rnnx cannot lower; use SimpleRNN, GRU or "
            "LSTM (or RNN wrapping SimpleRNNCell, GRUCell or LSTMCell)"
        )
    if getattr(layer, "stateful", False):
        raise UnsupportedModelError(
            f"{where} has stateful=True, which carries state across batches; rebuild it with "
            "stateful=False and copy the weights (the exported model resets state per sequence)"
        )
    if not cell.built:
        raise UnsupportedModelError(f"{where} is not built; call the model on an input once before exporting")
    if layer.compute_dtype != "float32":
        raise UnsupportedModelError(
            f"{where} computes in {layer.compute_dtype}; export needs float32 layers "
            "(rebuild the model without a mixed-precision policy and copy the weights)"
        )
    units = int(cell.units)
    gates = _GATES[kind]
    kernel = np.asarray(cell.kernel.numpy(), dtype=np.float32)
    recurrent = np.asarray(cell.recurrent_kernel.numpy(), dtype=np.float32)
    reset_after = bool(getattr(cell, "reset_after", False))
    input_bias = np.zeros(gates * units, dtype=np.float32)
    recurrent_bias = None
    if cell.use_bias:
        bias = np.asarray(cell.bias.numpy(), dtype=np.float32)
        if kind == "gru" and reset_after:
            input_bias, recurrent_bias = bias[0], bias[1]
        else:
            input_bias = bias
    gate_fn = getattr(cell, "recurrent_activation", None) if kind != "rnn" else None
    return RecurrentSpec(
        name=layer.name,
        kind=kind,
        units=units,
        kernel=kernel,
        recurrent_kernel=recurrent,
        input_bias=input_bias,
        recurrent_bias=recurrent_bias,
        activation=cell.activation,
        recurrent_activation=gate_fn,
        activation_name=_activation_name(cell.activation),
        recurrent_activation_name=_activation_name(gate_fn) if gate_fn is not None else None,
        reset_after=reset_after,
        return_sequences=bool(layer.return_sequences),
        return_state=bool(layer.return_state),
        go_backwards=bool(layer.go_backwards),
        zero_output_for_mask=bool(getattr(layer, "zero_output_for_mask", False)),
    )
