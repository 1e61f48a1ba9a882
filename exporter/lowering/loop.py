"""``loop`` lowering: the recurrence as one ``WHILE`` op per layer.

The input projection of all time steps is one matrix product before the loop; the loop body
holds only the recurrent part. Works for any sequence length, including a dynamic one.
"""

from __future__ import annotations

from rnnx.exporter.lowering.cells import RecurrentSpec
from rnnx.exporter.lowering.recurrence import masked_update, prepare


def run_loop(spec: RecurrentSpec, inputs, mask=None, initial_state=None):
    """Run ``spec`` over ``inputs`` (``float32 [B, T, F]``) with a ``tf.while_loop``.

    Args:
        spec: the layer.
        inputs: ``float32 [B, T, F]``.
        mask: optional ``bool [B, T]``; masked steps keep the previous state.
        initial_state: optional list of ``float32 [B, U]`` (zeros when ``None``).

    Returns:
        ``(output, states)``: output ``[B, T, U]`` when ``return_sequences`` else ``[B, U]``
        (in processing order when ``go_backwards``, as Keras returns it), and the final states.
    """
    import tensorflow as tf

    prepared = prepare(spec, inputs, mask, initial_state)
    steps = tf.shape(prepared.projected)[0]
    batch = inputs.shape[0]

    def advance(t, prev_output, states):
        output, new_states = spec.step(tf.gather(prepared.projected, t), states)
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

    sequences = tf.TensorArray(tf.float32, size=steps, element_shape=tf.TensorShape([batch, spec.units]))
    _, _, states, sequences = tf.while_loop(running, body_with_sequences, (*start, sequences))
    output = tf.transpose(sequences.stack(), [1, 0, 2])
    output.set_shape([batch, inputs.shape[1], spec.units])
    return output, states
