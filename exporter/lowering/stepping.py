"""The ``step`` signature: one time step, with every recurrent layer's state as named tensors.

On a device a recurrent model usually runs one step at a time (a keyboard, a sensor stream, text
generation). Beside ``serving_default`` (the whole sequence), rnnx exports a ``step`` signature:

* inputs: the model's inputs for one time step (``[B, 1, …]``) and, for each recurrent layer,
  ``<layer>_hidden`` (``[B, U]``) and, for an LSTM, ``<layer>_cell``;
* outputs: the model's outputs for that step and ``<layer>_hidden_out`` / ``<layer>_cell_out``.

Running ``step`` T times from zero states, feeding each step's state outputs back, gives what
``serving_default`` gives for the whole sequence. The step uses the cell's equations directly (no
loop, no fused op, no variable tensors), so the state lives where the caller keeps it.

A model has no step signature when a recurrent layer reads the sequence backwards
(``go_backwards``, ``Bidirectional``) or takes its initial state from another tensor; the reason
is recorded in the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from rnnx.exporter.lowering.cells import RecurrentSpec, recurrent_spec
from rnnx.exporter.lowering.recurrence import masked_update
from rnnx.exporter.planning import ExportPlan, TensorInfo
from rnnx.exporter.runtime.metadata import STEP_SIGNATURE


@dataclass(frozen=True)
class StateTensor:
    """One state of one recurrent layer in the ``step`` signature.

    Attributes:
        layer: the Keras layer name.
        kind: ``"hidden"`` or ``"cell"`` (``"state0"``, ``"state1"`` … for a hand-written cell).
        input: signature input name (``<layer>_<kind>``).
        output: signature output name (``<layer>_<kind>_out``).
        shape: ``[B, U]`` (``None`` for a dynamic batch).
    """

    layer: str
    kind: str
    input: str
    output: str
    shape: tuple[int | None, int]

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "kind": self.kind,
            "input": self.input,
            "output": self.output,
            "shape": list(self.shape),
        }


class _StepContext:
    """State tensors of one traced step: read by the stepped layers, written back by them."""

    def __init__(self):
        self.states_in: dict[str, list] = {}
        self.states_out: dict[str, list] = {}


class SteppedRecurrent(keras.layers.Layer):
    """One time step of a recurrent layer; its state comes from and goes to a :class:`_StepContext`."""

    def __init__(self, original, spec: RecurrentSpec, context: _StepContext):
        super().__init__(name=original.name)
        self.supports_masking = True
        self._spec = spec
        self._context = context
        self._mask_of = original.compute_mask
        self._spec_of = original.compute_output_spec

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None):
        return self._spec_of(sequences, initial_state=initial_state)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        spec = self._spec
        states = self._context.states_in[self.name]
        parts = spec.project_step(sequences[:, 0])
        output, new_states = spec.step(parts, states)
        mask_t = None if mask is None else tf.expand_dims(tf.cast(mask[:, 0], tf.bool), -1)
        # A masked step repeats the previous output, which for the standard cells is the hidden
        # state (a hand-written cell whose output is not its first state gets zeros there).
        previous = states[0] if spec.state_sizes[0] == spec.output_size else tf.zeros_like(output)
        output, new_states = masked_update(spec, mask_t, output, new_states, previous, states)
        self._context.states_out[self.name] = new_states
        result = output[:, None] if spec.return_sequences else output
        return [result, *new_states] if spec.return_state else result

    def compute_mask(self, inputs, mask=None):
        return self._mask_of(inputs, mask)


def step_obstacle(model, plan: ExportPlan) -> str | None:
    """Why ``model`` can have no ``step`` signature, or ``None``."""
    from rnnx.exporter.planning import recurrent_layers

    if not plan.layers:
        return "the model has no recurrent layers"
    for layer in recurrent_layers(model):
        if isinstance(layer, keras.layers.Bidirectional):
            return f"layer `{layer.name}` is Bidirectional: its backward direction needs the whole sequence"
        if layer.go_backwards:
            return f"layer `{layer.name}` has go_backwards=True: it needs the whole sequence"
    if any(layer.has_initial_state for layer in plan.layers):
        return "a recurrent layer takes its initial state from another tensor"
    for tensor in plan.inputs:
        if len(tensor.shape) < 2:
            return f"input '{tensor.name}' has no time dimension"
    return None


def state_tensors(model, plan: ExportPlan) -> list[StateTensor]:
    """The state tensors of the ``step`` signature, in model order."""
    from rnnx.exporter.planning import recurrent_layers

    batch = plan.inputs[0].shape[0]
    found = []
    for layer in recurrent_layers(model):
        spec = recurrent_spec(layer)
        kinds = ("hidden", "cell") if spec.kind != "custom" else [f"state{i}" for i in range(spec.state_count)]
        for kind, size in zip(kinds, spec.state_sizes):
            name = f"{layer.name}_{kind}"
            found.append(StateTensor(layer.name, kind, name, f"{name}_out", (batch, size)))
    return found


def step_description(model, plan: ExportPlan) -> dict:
    """The ``step`` entry of the rnnx metadata: the state tensors, or why there is no step signature.

    ``skips_padding`` is true when every recurrent layer receives a mask: a padding token then
    leaves every state and the output as they were, so a caller may skip it (which spares a
    quantized model requantizing its state at every padding step).
    """
    obstacle = step_obstacle(model, plan)
    if obstacle:
        return {"signature": None, "reason": obstacle}
    return {
        "signature": STEP_SIGNATURE,
        "states": [s.to_dict() for s in state_tensors(model, plan)],
        "skips_padding": all(layer.masked for layer in plan.layers),
    }


def step_function(model, plan: ExportPlan):
    """The ``step`` signature as a ``tf.function``.

    Returns:
        ``(function, input_names, states)``: the function, its input names in argument order, and
        the :class:`StateTensor` list.

    Raises:
        ValueError: when :func:`step_obstacle` names an obstacle (check it first).
    """
    from rnnx.exporter.conversion import constant_call

    obstacle = step_obstacle(model, plan)
    if obstacle:
        raise ValueError(obstacle)
    context = _StepContext()

    def replace(layer):
        if isinstance(layer, keras.layers.RNN):
            return SteppedRecurrent(layer, recurrent_spec(layer), context)
        return layer

    stepped = keras.models.clone_model(model, clone_function=replace, recursive=True)
    run = constant_call(stepped)
    states = state_tensors(model, plan)
    step_inputs = [TensorInfo(i.name, i.dtype, (i.shape[0], 1, *i.shape[2:])) for i in plan.inputs]
    specs = [tf.TensorSpec(list(i.shape), tf.as_dtype(i.dtype), name=i.name) for i in step_inputs]
    specs += [tf.TensorSpec(list(s.shape), tf.float32, name=s.input) for s in states]
    count = len(step_inputs)

    def call(*args):
        model_inputs, state_args = args[:count], args[count:]
        context.states_in = {}
        for state, tensor in zip(states, state_args):
            context.states_in.setdefault(state.layer, []).append(tensor)
        outputs = tf.nest.flatten(run(list(model_inputs) if count > 1 else model_inputs[0]))
        named = dict(zip(plan.output_names, outputs))
        positions: dict[str, int] = {}
        for state in states:
            index = positions.get(state.layer, 0)
            positions[state.layer] = index + 1
            named[state.output] = tf.identity(context.states_out[state.layer][index])
        return named

    function = tf.function(call, input_signature=specs, autograph=False)
    return function, [i.name for i in step_inputs] + [s.input for s in states], states
