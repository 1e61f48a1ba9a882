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

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.units,) * self.state_count

    @property
    def output_size(self) -> int:
        return self.units

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

    def project_step(self, x_t) -> list:
        """``x_t W + b`` for one time step: ``[B, F]`` → parts ``[B, ·]`` (no reshapes, for the step signature)."""
        import tensorflow as tf

        return [
            tf.matmul(x_t, tf.constant(self.kernel[:, columns])) + tf.constant(self.input_bias[columns])
            for columns in self._input_slices()
        ]

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


def _layer_flags(layer) -> dict:
    return {
        "return_sequences": bool(layer.return_sequences),
        "return_state": bool(layer.return_state),
        "go_backwards": bool(layer.go_backwards),
        "zero_output_for_mask": bool(getattr(layer, "zero_output_for_mask", False)),
    }


def _check_layer(layer, cell) -> None:
    where = f"layer `{layer.name}` ({type(layer).__name__})"
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


def _from_equivalent(layer, cell) -> RecurrentSpec:
    """The spec of a hand-written cell that declares the standard cell it computes exactly."""
    import keras

    eq = cell.rnnx_equivalent()
    kind = eq["kind"]
    if kind not in _GATES:
        raise UnsupportedModelError(f"layer `{layer.name}`: rnnx_equivalent() names an unknown cell {kind!r}")
    activation = keras.activations.get(eq.get("activation", "tanh"))
    gate = keras.activations.get(eq.get("recurrent_activation", "sigmoid")) if kind != "rnn" else None
    return RecurrentSpec(
        name=layer.name,
        kind=kind,
        units=int(np.asarray(eq["recurrent_kernel"]).shape[0]),
        kernel=np.asarray(eq["kernel"], dtype=np.float32),
        recurrent_kernel=np.asarray(eq["recurrent_kernel"], dtype=np.float32),
        input_bias=np.asarray(eq["bias"], dtype=np.float32),
        recurrent_bias=None,
        activation=activation,
        recurrent_activation=gate,
        activation_name=_activation_name(activation),
        recurrent_activation_name=_activation_name(gate) if gate is not None else None,
        reset_after=bool(eq.get("reset_after", False)),
        **_layer_flags(layer),
    )


def recurrent_spec(layer):
    """Read the spec of a built Keras recurrent layer.

    Args:
        layer: a built ``keras.layers.RNN`` (``SimpleRNN``, ``GRU``, ``LSTM``, or ``RNN(cell)``).

    Returns:
        A :class:`RecurrentSpec` for the standard cells and for hand-written cells that declare
        the standard cell they compute (``cell.rnnx_equivalent()``); a :class:`CustomCellSpec`
        for any other cell that follows the Keras RNN-cell protocol.

    Raises:
        UnsupportedModelError: for a stateful, unbuilt or non-float32 layer, or a cell without
            ``state_size``; the message names the layer and says what to do.
    """
    cell = getattr(layer, "cell", None)
    _check_layer(layer, cell)
    cell_class = type(cell).__name__
    kind = CELL_KINDS.get(cell_class)
    if kind is None and hasattr(cell, "rnnx_equivalent"):
        return _from_equivalent(layer, cell)
    if kind is None:
        if getattr(cell, "state_size", None) is None:
            raise UnsupportedModelError(
                f"layer `{layer.name}` uses the cell {cell_class}, which has no state_size; a cell needs "
                "state_size and call(inputs, states) -> (output, new_states)"
            )
        return CustomCellSpec.of(layer, cell)
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
        **_layer_flags(layer),
    )


@dataclass(frozen=True, eq=False)
class CustomCellSpec:
    """A hand-written Keras RNN cell that rnnx runs as it is, one ``cell.call`` per time step.

    Only the ``loop`` and ``unrolled`` lowerings apply (there is no fused op to map it to); its
    weights become constants like every other weight (see ``conversion.constant_call``).

    Attributes:
        name: the Keras layer name.
        cell: the cell object.
        state_sizes: the width of each state tensor.
        output_size: the width of the per-step output.
        cell_class: the cell's class name, for plans and errors.
        return_sequences, return_state, go_backwards, zero_output_for_mask: as on the layer.
    """

    name: str
    cell: object
    state_sizes: tuple[int, ...]
    output_size: int
    cell_class: str
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    zero_output_for_mask: bool
    kind: str = "custom"
    activation_name: str = "custom"
    recurrent_activation_name: str | None = None

    @classmethod
    def of(cls, layer, cell) -> CustomCellSpec:
        sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
        output = getattr(cell, "output_size", None) or sizes[0]
        return cls(
            layer.name, cell, tuple(int(s) for s in sizes), int(output), type(cell).__name__, **_layer_flags(layer)
        )

    @property
    def state_count(self) -> int:
        return len(self.state_sizes)

    @property
    def units(self) -> int:
        return self.output_size

    def project_inputs(self, x) -> list:
        """No hoisted projection: the cell sees the raw inputs ``[B, T, F]`` at each step."""
        return [x]

    def project_step(self, x_t) -> list:
        return [x_t]

    def step(self, parts_t: Sequence, states: Sequence):
        """One ``cell.call`` (inference mode): ``(output [B, output_size], new_states)``."""
        import inspect

        kwargs = {"training": False} if "training" in inspect.signature(self.cell.call).parameters else {}
        given = list(states) if self.state_count > 1 else states[0]
        output, new_states = self.cell.call(parts_t[0], [given] if self.state_count == 1 else given, **kwargs)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        return output, new_states

    def zero_states(self, batch):
        import tensorflow as tf

        return [tf.zeros(tf.stack([batch, size]), tf.float32) for size in self.state_sizes]
