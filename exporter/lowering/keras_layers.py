"""Replace a model's recurrent layers with their lowered forms, keeping everything else.

:func:`lower_model` clones the Keras model (``keras.models.clone_model``), swapping each
``SimpleRNN``/``GRU``/``LSTM``/``RNN`` layer for a :class:`LoweredRecurrent` and each
``Bidirectional`` for a :class:`LoweredBidirectional`, which recompute the layer with the lowering
chosen for it and the layer's weights frozen as constants. Other layers are reused as they are
(shared, not copied). Keras propagates masks to the lowered layers as it would to the originals.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from rnnx.exporter.lowering import Lowering, lowering_info
from rnnx.exporter.lowering.cells import RecurrentSpec, recurrent_spec


class LoweredRecurrent(keras.layers.Layer):
    """A recurrent layer recomputed by a lowering (no trainable weights of its own).

    Call with ``sequences`` (``float32 [B, T, F]``), optional ``initial_state`` and ``mask``
    (``bool [B, T]``); returns what the original layer returns: the output (``[B, T, U]`` or
    ``[B, U]``), followed by the final states when ``return_state``.
    """

    def __init__(self, original, spec: RecurrentSpec, lowering: Lowering):
        super().__init__(name=original.name)
        self.supports_masking = True
        self._spec = spec
        self._run = lowering_info(lowering).run
        self._mask_of = original.compute_mask

    def call(self, sequences, initial_state=None, mask=None, training=None):
        output, states = self._run(self._spec, sequences, mask, initial_state)
        if self._spec.return_state:
            return [output, *states]
        return output

    def compute_mask(self, inputs, mask=None):
        return self._mask_of(inputs, mask)


class LoweredBidirectional(keras.layers.Layer):
    """A ``Bidirectional`` wrapper whose two directions are lowered (merged as Keras merges them)."""

    def __init__(self, original, forward: RecurrentSpec, backward: RecurrentSpec, lowering: Lowering):
        super().__init__(name=original.name)
        self.supports_masking = True
        self._forward, self._backward = forward, backward
        self._run = lowering_info(lowering).run
        self._merge_mode = original.merge_mode
        self._return_sequences = original.return_sequences
        self._return_state = original.return_state
        self._mask_of = original.compute_mask

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y, states_forward = self._run(self._forward, sequences, mask, forward_state)
        y_reverse, states_backward = self._run(self._backward, sequences, mask, backward_state)
        if self._return_sequences:
            y_reverse = tf.reverse(y_reverse, [1])
        merged = merge_directions(self._merge_mode, y, y_reverse)
        if self._return_state:
            states = [*states_forward, *states_backward]
            return [*merged, *states] if self._merge_mode is None else [merged, *states]
        return merged

    def compute_mask(self, inputs, mask=None):
        return self._mask_of(inputs, mask)


def merge_directions(mode: str | None, forward, backward):
    """Combine the two directions as ``keras.layers.Bidirectional(merge_mode=mode)`` does."""
    if mode == "concat":
        return tf.concat([forward, backward], axis=-1)
    if mode == "sum":
        return forward + backward
    if mode == "ave":
        return (forward + backward) / 2
    if mode == "mul":
        return forward * backward
    if mode is None:
        return [forward, backward]
    raise ValueError(f"unknown Bidirectional merge_mode {mode!r}")


def is_recurrent(layer) -> bool:
    """Whether rnnx treats ``layer`` as a recurrent layer to lower."""
    return isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))


def lower_layer(layer, lowering: Lowering):
    """The lowered replacement of one recurrent layer.

    Raises:
        UnsupportedModelError: as :func:`~rnnx.exporter.lowering.cells.recurrent_spec` raises it.
    """
    if isinstance(layer, keras.layers.Bidirectional):
        return LoweredBidirectional(
            layer, recurrent_spec(layer.forward_layer), recurrent_spec(layer.backward_layer), lowering
        )
    return LoweredRecurrent(layer, recurrent_spec(layer), lowering)


def lower_model(model, lowerings: Mapping[str, Lowering]):
    """A clone of ``model`` whose recurrent layers are lowered as ``lowerings[layer.name]`` says.

    Args:
        model: a built Keras ``Sequential`` or functional model.
        lowerings: the lowering of every recurrent layer, by layer name.

    Raises:
        UnsupportedModelError: for a recurrent layer rnnx cannot lower.
        KeyError: if a recurrent layer has no entry in ``lowerings``.
    """

    def replace(layer):
        if is_recurrent(layer):
            return lower_layer(layer, lowerings[layer.name])
        return layer

    return keras.models.clone_model(model, clone_function=replace, recursive=True)
