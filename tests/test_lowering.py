"""The lowered recurrent layers against Keras: first as TensorFlow graphs, then converted to .tflite."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from builders import RECURRENT_NAMES, F, T, features, stack_model  # noqa: E402

from rnnx.exporter.errors import UnsupportedModelError  # noqa: E402
from rnnx.exporter.lowering import Lowering  # noqa: E402
from rnnx.exporter.lowering.keras_layers import lower_model  # noqa: E402
from rnnx.exporter.planning import plan_export  # noqa: E402

CELLS = ("gru", "lstm", "rnn")


def _as_list(outputs):
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lowering", list(Lowering))
@pytest.mark.parametrize("masked", [False, True])
def test_lowered_graph_equals_keras(cell, lowering, masked):
    model = stack_model(cell, masked=masked)
    x = features()
    if masked:
        x[0, :3] = 0.0  # pre-padding
        x[1, -2:] = 0.0  # post-padding: masked steps must hold the state
    lowered = lower_model(model, {name: lowering for name in RECURRENT_NAMES})
    expected, got = _as_list(model(x)), _as_list(lowered(x))
    error = max(float(np.abs(a - b).max()) for a, b in zip(expected, got))
    assert error <= 1e-6, f"{cell}/{lowering.value}: max abs error {error:.3e}"


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.GRU(
            4, reset_after=False, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True
        ),
        keras.layers.GRU(4, use_bias=False, return_sequences=True),
        keras.layers.LSTM(4, unit_forget_bias=False, activation="softsign", return_sequences=True),
        keras.layers.SimpleRNN(4, activation="relu", return_sequences=True, zero_output_for_mask=True),
        keras.layers.RNN(keras.layers.GRUCell(4), return_sequences=True),
    ],
    ids=["gru-v1-relu-hardsigmoid", "gru-nobias", "lstm-softsign", "rnn-relu-zero-mask", "rnn-wrapping-grucell"],
)
def test_cell_variants_equal_keras(layer):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((T, F))
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    x = features(1)
    x[1, 4:] = 0.0
    for lowering in Lowering:
        got = lower_model(model, {layer.name: lowering})(x)
        error = float(np.abs(np.asarray(model(x)) - np.asarray(got)).max())
        assert error <= 1e-6, f"{layer.name}/{lowering.value}: {error:.3e}"


def test_stateful_and_custom_cells_are_refused_by_name():
    class Doubler(keras.layers.Layer):
        state_size = 2

        def call(self, inputs, states):
            return inputs * 2, states

    inputs = keras.Input((T, 2), batch_size=1)
    stateful = keras.Model(inputs, keras.layers.GRU(2, stateful=True, name="remembers")(inputs))
    with pytest.raises(UnsupportedModelError, match=r"`remembers` .*stateful=True"):
        plan_export(stateful)
    custom = keras.Model(inputs, keras.layers.RNN(Doubler(), name="doubling")(inputs))
    with pytest.raises(UnsupportedModelError, match=r"`doubling` .*cell Doubler"):
        plan_export(custom)


def test_unrolled_needs_a_fixed_length():
    inputs = keras.Input((None, F))
    model = keras.Model(inputs, keras.layers.LSTM(2, name="free_length")(inputs))
    with pytest.raises(UnsupportedModelError, match=r"`free_length` .*fixed sequence length.*--sequence-length"):
        plan_export(model, Lowering.UNROLLED)
    plan = plan_export(model, Lowering.UNROLLED, sequence_length=6)
    assert plan.inputs[0].shape == (1, 6, F)
    assert plan.lowerings == {"free_length": Lowering.UNROLLED}


def test_overrides_must_name_recurrent_layers():
    model = stack_model("gru")
    with pytest.raises(
        UnsupportedModelError, match=r"names no recurrent layer: head .*backwards, both_ways, with_state"
    ):
        plan_export(model, layer_lowerings={"head": "loop"})
    with pytest.raises(UnsupportedModelError, match="unknown lowering 'fused'.*loop, unrolled"):
        plan_export(model, layer_lowerings={"backwards": "fused"})
    plan = plan_export(model, Lowering.LOOP, layer_lowerings={"both_ways": "unrolled"})
    assert [(layer.name, layer.lowering.value, layer.directions) for layer in plan.layers] == [
        ("backwards", "loop", 1),
        ("both_ways", "unrolled", 2),
        ("with_state", "loop", 1),
    ]
    assert plan.expected_while_ops() == 2
