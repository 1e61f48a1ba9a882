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


class ProbeCollector:
    """Collects each lowered layer's main output tensor by layer name while a model runs.

    A plain object on purpose: Keras would replace a dict attribute of a layer by a tracked copy.
    """

    def __init__(self):
        self.outputs: dict[str, object] = {}


class LoweredRecurrent(keras.layers.Layer):
    """A recurrent layer recomputed by a lowering (no trainable weights of its own).

    Call with ``sequences`` (``float32 [B, T, F]``), optional ``initial_state`` and ``mask``
    (``bool [B, T]``); returns what the original layer returns: the output (``[B, T, U]`` or
    ``[B, U]``), followed by the final states when ``return_state``.
    """

    def __init__(self, original, spec: RecurrentSpec, lowering: Lowering, observer=None, probes=None):
        super().__init__(name=original.name)
        self.supports_masking = True
        self._probes = probes
        self._spec = spec
        self._run = lowering_info(lowering).run
        self._mask_of = original.compute_mask
        self._spec_of = original.compute_output_spec
        self._observer = observer

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None):
        # The original layer knows its output shapes, even where the lowering needs a concrete
        # length (an unrolled layer in a model built with a dynamic time dimension).
        return self._spec_of(sequences, initial_state=initial_state)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        if self._observer is not None:
            self._observer(self.name, mask is not None, initial_state is not None)
        output, states = self._run(self._spec, sequences, mask, initial_state)
        if self._probes is not None:
            self._probes.outputs[self.name] = output
        if self._spec.return_state:
            return [output, *states]
        return output

    def compute_mask(self, inputs, mask=None):
        return self._mask_of(inputs, mask)


class LoweredBidirectional(keras.layers.Layer):
    """A ``Bidirectional`` wrapper whose two directions are lowered (merged as Keras merges them)."""

    def __init__(
        self, original, forward: RecurrentSpec, backward: RecurrentSpec, lowering: Lowering, observer=None, probes=None
    ):
        super().__init__(name=original.name)
        self._observer = observer
        self._probes = probes
        self.supports_masking = True
        self._forward, self._backward = forward, backward
        self._run = lowering_info(lowering).run
        self._merge_mode = original.merge_mode
        self._return_sequences = original.return_sequences
        self._return_state = original.return_state
        self._mask_of = original.compute_mask
        self._spec_of = original.compute_output_spec

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None):
        return self._spec_of(sequences, initial_state=initial_state)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        if self._observer is not None:
            self._observer(self.name, mask is not None, initial_state is not None)
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y, states_forward = self._run(self._forward, sequences, mask, forward_state)
        y_reverse, states_backward = self._run(self._backward, sequences, mask, backward_state)
        if self._return_sequences:
            y_reverse = tf.reverse(y_reverse, [1])
        merged = merge_directions(self._merge_mode, y, y_reverse)
        if self._probes is not None:
            self._probes.outputs[self.name] = merged if self._merge_mode is not None else tf.concat(merged, axis=-1)
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


def lower_layer(layer, lowering: Lowering, observer=None, probes=None):
    """The lowered replacement of one recurrent layer.

    Raises:
        UnsupportedModelError: as :func:`~rnnx.exporter.lowering.cells.recurrent_spec` raises it.
    """
    if isinstance(layer, keras.layers.Bidirectional):
        return LoweredBidirectional(
            layer, recurrent_spec(layer.forward_layer), recurrent_spec(layer.backward_layer), lowering, observer, probes
        )
    return LoweredRecurrent(layer, recurrent_spec(layer), lowering, observer, probes)


def lower_model(model, lowerings: Mapping[str, Lowering], observer=None, probes=None):
    """A clone of ``model`` whose recurrent layers are lowered as ``lowerings[layer.name]`` says.

    Args:
        model: a built Keras ``Sequential`` or functional model.
        lowerings: the lowering of every recurrent layer, by layer name.
        observer: called as ``observer(layer_name, masked, has_initial_state)`` each time a
            lowered layer is called (the planner's probe).
        probes: a :class:`ProbeCollector` the lowered layers fill with their main output tensor
            each time they are called (exported for ``rnnx verify`` to find where outputs diverge).

    Raises:
        UnsupportedModelError: for a recurrent layer rnnx cannot lower.
        KeyError: if a recurrent layer has no entry in ``lowerings``.
    """

    def replace(layer):
        if is_recurrent(layer):
            return lower_layer(layer, lowerings[layer.name], observer, probes)
        return layer

    return keras.models.clone_model(model, clone_function=replace, recursive=True)


def probe_recurrent_inputs(model, layer_names, input_shapes, input_dtypes) -> dict[str, tuple[bool, bool]]:
    """Whether each recurrent layer receives a mask and an initial state: ``{name: (masked, has_state)}``.

    Found by running a ``loop``-lowered clone of ``model`` once on zeros of ``input_shapes``
    (dynamic dimensions taken as 1 for the batch, 2 for time); Keras propagates masks there exactly
    as it does for the original layers.
    """
    import numpy as np

    seen: dict[str, tuple[bool, bool]] = {}

    def observe(name, masked, has_state):
        seen[name] = (masked, has_state)

    clone = lower_model(model, {name: Lowering.LOOP for name in layer_names}, observe)
    zeros = [
        np.zeros([d if d is not None else (1 if i == 0 else 2) for i, d in enumerate(shape)], dtype=dtype)
        for shape, dtype in zip(input_shapes, input_dtypes)
    ]
    clone(zeros if len(zeros) > 1 else zeros[0], training=False)
    return seen
