"""``unrolled`` lowering: one copy of the cell's ops per time step, no control flow.

Needs a fixed sequence length. Fastest for short sequences; the file grows with the length.
"""

from __future__ import annotations

from rnnx.exporter.errors import UnsupportedModelError
from rnnx.exporter.lowering.cells import RecurrentSpec
from rnnx.exporter.lowering.recurrence import masked_update, prepare


def run_unrolled(spec: RecurrentSpec, inputs, mask=None, initial_state=None):
    """Run ``spec`` over ``inputs`` (``float32 [B, T, F]``) with a Python loop over the T steps.

    Same arguments and results as :func:`rnnx.exporter.lowering.loop.run_loop`.

    Raises:
        UnsupportedModelError: if the time dimension ``T`` is not static.
    """
    import tensorflow as tf

    steps = inputs.shape[1]
    if steps is None:
        raise UnsupportedModelError(
            f"layer `{spec.name}`: the unrolled lowering needs a fixed sequence length; "
            "pass --sequence-length or use --lowering loop"
        )
    prepared = prepare(spec, inputs, mask, initial_state)
    xs = list(zip(*(tf.unstack(part, num=steps, axis=0) for part in prepared.projected)))
    masks = [None] * steps if prepared.mask is None else tf.unstack(prepared.mask, num=steps, axis=0)
    states, output = prepared.states, prepared.zero_output
    outputs = []
    for x_t, mask_t in zip(xs, masks):
        new_output, new_states = spec.step(x_t, states)
        output, states = masked_update(spec, mask_t, new_output, new_states, output, states)
        outputs.append(output)
    if spec.return_sequences:
        return tf.stack(outputs, axis=1), states
    return output, states
