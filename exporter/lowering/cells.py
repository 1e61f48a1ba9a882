"""The three standard recurrent cells as TensorFlow ops, with weights frozen as constants.

A :class:`RecurrentSpec` is read from a Keras 3 ``SimpleRNN``, ``GRU`` or ``LSTM`` layer (or an
``RNN`` wrapping one of their cells). It splits each cell into

* :meth:`RecurrentSpec.project_inputs`: ``x W + b`` for **all** time steps at once, matrix
  products hoisted out of the recurrence, and
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

    def _input_slices(self) -> list[slice]:
        """Column slices of the input projection kept as separate tensors (GRU: gates, candidate)."""
        u = self.units
        if self.kind == "gru":
            return [slice(0, 2 * u), slice(2 * u, 3 * u)]
        return [slice(0, self.kernel.shape[1])]

    def project_inputs(self, x) -> list:
        """``x W + b`` for every time step: ``[B, T, F]`` → parts ``float32 [B, T, ·]``.

        One part (``[B, T, G*U]``) for SimpleRNN and LSTM; two for GRU (the update and reset
        gates ``[B, T, 2U]`` and the candidate ``[B, T, U]``), so that no time step has to split
        its input.
        """
        import tensorflow as tf

        batch, time = tf.shape(x)[0], tf.shape(x)[1]
        flat = tf.reshape(x, [-1, self.kernel.shape[0]])
        parts = []
        for columns in self._input_slices():
            kernel, bias = self.kernel[:, columns], self.input_bias[columns]
            projected = tf.matmul(flat, tf.constant(kernel)) + tf.constant(bias)
            part = tf.reshape(projected, tf.stack([batch, time, kernel.shape[1]]))
            part.set_shape([x.shape[0], x.shape[1], kernel.shape[1]])
            parts.append(part)
        return parts

    def step(self, parts_t: Sequence, states: Sequence):
        """One time step: the projected input parts (each ``[B, ·]``) and states → ``(output, new_states)``.

        Written for few ops per step, since a step of these small layers costs what its op
        dispatches cost, and with ops the XNNPACK delegate takes (no ``SPLIT_V``, which would cut
        the delegated graph at every step): GRU gates and candidate have their own matrix
        products, the two sigmoid gates share one ``ADD`` and one ``LOGISTIC``, and the update
        ``z ⊙ h + (1 − z) ⊙ h̃`` is computed as ``h̃ + z ⊙ (h − h̃)``.
        """
        import tensorflow as tf

        u = self.units
        h = states[0]
        if self.kind == "rnn":
            h_new = self.activation(parts_t[0] + tf.matmul(h, tf.constant(self.recurrent_kernel)))
            return h_new, [h_new]
        if self.kind == "lstm":
            z = parts_t[0] + tf.matmul(h, tf.constant(self.recurrent_kernel))
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
            act, gate = self.activation, self.recurrent_activation
            c_new = gate(z_f) * states[1] + gate(z_i) * act(z_c)
            h_new = gate(z_o) * act(c_new)
            return h_new, [h_new, c_new]
        x_zr, x_h = parts_t
        gate = self.recurrent_activation
        recurrent_zr = tf.constant(self.recurrent_kernel[:, : 2 * u])
        recurrent_h = tf.constant(self.recurrent_kernel[:, 2 * u :])
        if self.reset_after:
            inner_zr, inner_h = tf.matmul(h, recurrent_zr), tf.matmul(h, recurrent_h)
            if self.recurrent_bias is not None:
                inner_zr = inner_zr + tf.constant(self.recurrent_bias[: 2 * u])
                inner_h = inner_h + tf.constant(self.recurrent_bias[2 * u :])
            z, r = tf.split(gate(x_zr + inner_zr), 2, axis=-1)
            candidate = self.activation(x_h + r * inner_h)
        else:
            z, r = tf.split(gate(x_zr + tf.matmul(h, recurrent_zr)), 2, axis=-1)
            candidate = self.activation(x_h + tf.matmul(r * h, recurrent_h))
        h_new = candidate + z * (h - candidate)
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
