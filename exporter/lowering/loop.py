"""``loop`` lowering: the recurrence as one ``WHILE`` op per layer.

The input projection of all time steps is one matrix product before the loop; the loop body
holds only the recurrent part. Works for any sequence length, including a dynamic one.

With ``return_sequences`` the per-step outputs are collected either in a ``TensorArray`` (which
the converter lowers to builtin ops only when the batch size is static) or in a preallocated
``[T, B, U]`` buffer updated in place with ``tensor_scatter_nd_update`` (works with a dynamic
batch size too). The buffer is used when the batch size is dynamic; see BENCHMARKS.md for both.
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
        store: ``"tensor_list"`` or ``"buffer"`` for the output sequence; by default the tensor
            list when the batch size is static, else the buffer.

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

    store = store or ("tensor_list" if batch is not None else "buffer")
    if store == "buffer":

        def body_with_buffer(t, prev_output, states, buffer):
            output, states = advance(t, prev_output, states)
            return t + 1, output, states, tf.tensor_scatter_nd_update(buffer, tf.reshape(t, [1, 1]), output[None])

        buffer = tf.zeros(tf.stack([steps, tf.shape(inputs)[0], spec.units]), tf.float32)
        _, _, states, stacked = tf.while_loop(running, body_with_buffer, (*start, buffer))
    else:
        sequences = tf.TensorArray(tf.float32, size=steps, element_shape=tf.TensorShape([batch, spec.units]))
        _, _, states, sequences = tf.while_loop(running, body_with_sequences, (*start, sequences))
        stacked = sequences.stack()
    output = tf.transpose(stacked, [1, 0, 2])
    output.set_shape([batch, inputs.shape[1], spec.units])
    return output, states
