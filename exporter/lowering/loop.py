"""``loop`` lowering: the recurrence as one ``WHILE`` op per layer.

The input projection of all time steps is one matrix product before the loop; the loop body
holds only the recurrent part. Works for any sequence length, including a dynamic one.

With ``return_sequences`` the per-step outputs are collected in a preallocated ``[T, B, U]``
buffer updated with ``tensor_scatter_nd_update`` rather than in a ``TensorArray``: the buffer
works with a dynamic batch size (the converter lowers ``TensorArray`` ops to builtins only for a
static one) and measured about 2.4× faster on the seed GRU model (BENCHMARKS.md).
"""

from __future__ import annotations

from rnnx.exporter.lowering.cells import RecurrentSpec
from rnnx.exporter.lowering.recurrence import masked_update, prepare


def run_loop(spec: RecurrentSpec, inputs, mask=None, initial_state=None, store: str | None = None):
    """Run ``spec`` over ``inputs`` (``float32 [B, T, F]``) with a ``tf.while_loop``.

    Args:
        spec: the layer.
        inputs: ``float32 [B, T, F]``.
        mask: optional ``bool [B, T]``; masked steps keep the previous state.
        initial_state: optional list of ``float32 [B, U]`` (zeros when ``None``).
        store: ``"buffer"`` (default) or ``"tensor_list"`` (static batch only) for the output
            sequence; the tensor list is kept for comparison in the benchmarks.

    Returns:
        ``(output, states)``: output ``[B, T, U]`` when ``return_sequences`` else ``[B, U]``
        (in processing order when ``go_backwards``, as Keras returns it), and the final states.
    """
    import tensorflow as tf

    prepared = prepare(spec, inputs, mask, initial_state)
    steps = tf.shape(prepared.projected[0])[0]
    batch = inputs.shape[0]

    def advance(t, prev_output, states):
        output, new_states = spec.step([tf.gather(part, t) for part in prepared.projected], states)
        mask_t = None if prepared.mask is None else tf.gather(prepared.mask, t)
        return masked_update(spec, mask_t, output, new_states, prev_output, states)

    def running(t, *_):
        return t < steps

    start = (tf.constant(0), prepared.zero_output, prepared.states)
    if not spec.return_sequences:

        def body(t, prev_output, states):
            return (t + 1, *advance(t, prev_output, states))

        _, last, states = tf.while_loop(running, body, start)
        return last, states

    def body_with_sequences(t, prev_output, states, sequences):
        output, states = advance(t, prev_output, states)
        return t + 1, output, states, sequences.write(t, output)

    if store in (None, "buffer"):

        def body_with_buffer(t, prev_output, states, buffer):
            output, states = advance(t, prev_output, states)
            return t + 1, output, states, tf.tensor_scatter_nd_update(buffer, tf.reshape(t, [1, 1]), output[None])

        # Zeros derived from the input, so that the converter cannot fold them into a constant
        # buffer of T × B × U floats stored in the file (56 KB for the seed model at T = 581).
        buffer = prepared.projected[0][..., :1] * 0.0 + tf.zeros([spec.output_size], tf.float32)
        _, _, states, stacked = tf.while_loop(running, body_with_buffer, (*start, buffer))
    else:
        sequences = tf.TensorArray(tf.float32, size=steps, element_shape=tf.TensorShape([batch, spec.output_size]))
        _, _, states, sequences = tf.while_loop(running, body_with_sequences, (*start, sequences))
        stacked = sequences.stack()
    output = tf.transpose(stacked, [1, 0, 2])
    output.set_shape([batch, inputs.shape[1], spec.output_size])
    return output, states
