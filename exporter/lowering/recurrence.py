"""Helpers shared by the lowerings: time-major inputs, masks, and the masked state update.

Masking follows Keras (``keras.src.backend.tensorflow.rnn.rnn``): at a masked time step the states
keep their previous value and the output repeats the previous output (zeros before the first
step), or is zero when the layer has ``zero_output_for_mask=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnx.exporter.lowering.cells import RecurrentSpec


@dataclass
class Prepared:
    """Time-major tensors for one layer.

    Attributes:
        projected: the input projection parts, each ``float32 [T, B, ·]``, in processing order.
        mask: ``bool [T, B, 1]`` or ``None``.
        states: initial states, each ``float32 [B, U]``.
        zero_output: ``float32 [B, U]`` zeros.
    """

    projected: object
    mask: object | None
    states: list
    zero_output: object


def prepare(spec: RecurrentSpec, inputs, mask=None, initial_state=None) -> Prepared:
    """Project ``inputs`` (``[B, T, F]``) for all steps and lay them out time-major.

    ``go_backwards`` reverses the inputs and the mask here, so the lowerings always run forward.
    """
    import tensorflow as tf

    projected = [tf.transpose(part, [1, 0, 2]) for part in spec.project_inputs(inputs)]
    time_mask = None
    if mask is not None:
        time_mask = tf.expand_dims(tf.transpose(tf.cast(mask, tf.bool), [1, 0]), -1)
    if spec.go_backwards:
        projected = [tf.reverse(part, [0]) for part in projected]
        if time_mask is not None:
            time_mask = tf.reverse(time_mask, [0])
    batch = tf.shape(inputs)[0]
    if initial_state is None:
        states = spec.zero_states(batch)
    else:
        states = [tf.convert_to_tensor(s, tf.float32) for s in initial_state]
        if len(states) != spec.state_count:
            raise ValueError(f"layer {spec.name} expects {spec.state_count} initial states, got {len(states)}")
    static_batch = inputs.shape[0]
    for s, size in zip(states, spec.state_sizes):
        s.set_shape([static_batch, size])
    zero_output = tf.zeros(tf.stack([batch, spec.output_size]), tf.float32)
    zero_output.set_shape([static_batch, spec.output_size])
    return Prepared(projected, time_mask, states, zero_output)


def masked_update(spec: RecurrentSpec, mask_t, output, new_states, prev_output, states):
    """Apply the step mask ``mask_t`` (``bool [B, 1]``): keep old states and output where it is false."""
    import tensorflow as tf

    if mask_t is None:
        return output, list(new_states)
    fallback = tf.zeros_like(output) if spec.zero_output_for_mask else prev_output
    output = tf.where(mask_t, output, fallback)
    kept = [tf.where(mask_t, new, old) for new, old in zip(new_states, states)]
    return output, kept
