"""The lowered recurrent layers against Keras: first as TensorFlow graphs, then converted to .tflite."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnx.exporter.errors import UnsupportedModelError  # noqa: E402
from rnnx.exporter.lowering import Lowering  # noqa: E402
from rnnx.exporter.lowering.keras_layers import lower_model  # noqa: E402
from rnnx.exporter.planning import plan_export  # noqa: E402

from builders import RECURRENT_NAMES, F, T, features, stack_model  # noqa: E402

CELLS = ("gru", "lstm", "rnn")
CONCRETE = (Lowering.LOOP, Lowering.UNROLLED)


def _as_list(outputs):
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lowering", CONCRETE)
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
    for lowering in CONCRETE:
        got = lower_model(model, {layer.name: lowering})(x)
        error = float(np.abs(np.asarray(model(x)) - np.asarray(got)).max())
        assert error <= 1e-6, f"{layer.name}/{lowering.value}: {error:.3e}"


def test_stateful_layers_are_refused_by_name():
    inputs = keras.Input((T, 2), batch_size=1)
    stateful = keras.Model(inputs, keras.layers.GRU(2, stateful=True, name="remembers")(inputs))
    with pytest.raises(UnsupportedModelError, match=r"`remembers` .*stateful=True"):
        plan_export(stateful)


@keras.saving.register_keras_serializable(package="rnnx_tests")
class LeakyCell(keras.layers.Layer):
    """A hand-written cell rnnx knows nothing about: h = 0.5 h + tanh(x W) (two states, one unused)."""

    state_size = [3, 2]
    output_size = 3

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 3), initializer="glorot_uniform", name="kernel")

    def call(self, inputs, states):
        h, counter = states
        h = 0.5 * h + keras.ops.tanh(keras.ops.matmul(inputs, self.kernel))
        return h, [h, counter + 1.0]


@pytest.mark.parametrize("masked", [False, True])
def test_hand_written_cells_run_as_they_are(masked):
    keras.utils.set_random_seed(9)
    inputs = keras.Input((T, F))
    x = keras.layers.Masking(0.0)(inputs) if masked else inputs
    x = keras.layers.RNN(LeakyCell(), return_sequences=True, name="leaky")(x)
    model = keras.Model(inputs, keras.layers.RNN(LeakyCell(), name="last")(x))
    plan = plan_export(model, Lowering.AUTO)
    assert [(layer.layer_class, layer.cell, layer.lowering.value) for layer in plan.layers] == [
        ("RNN(LeakyCell)", "custom", "unrolled"),
        ("RNN(LeakyCell)", "custom", "unrolled"),
    ]
    with pytest.raises(
        UnsupportedModelError,
        match=r"`leaky` \(RNN\(LeakyCell\)\) cannot be lowered as fused: its cell LeakyCell is hand-written",
    ):
        plan_export(model, Lowering.FUSED)
    x = features(2)
    x[1, 5:] = 0.0
    for lowering in CONCRETE:
        got = lower_model(model, {"leaky": lowering, "last": lowering})(x)
        assert float(np.abs(np.asarray(model(x)) - np.asarray(got)).max()) <= 1e-6


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
    with pytest.raises(UnsupportedModelError, match="unknown lowering 'sideways'.*auto, fused, unrolled, loop"):
        plan_export(model, layer_lowerings={"backwards": "sideways"})
    plan = plan_export(model, Lowering.LOOP, layer_lowerings={"both_ways": "unrolled"})
    assert [(layer.name, layer.lowering.value, layer.directions) for layer in plan.layers] == [
        ("backwards", "loop", 1),
        ("both_ways", "unrolled", 2),
        ("with_state", "loop", 1),
    ]
    assert plan.expected_census() == {"WHILE": 2, "UNIDIRECTIONAL_SEQUENCE_LSTM": 0, "UNIDIRECTIONAL_SEQUENCE_RNN": 0}


@pytest.mark.parametrize(
    "cell, masked, return_state, expected",
    [
        ("lstm", False, False, ["fused", "fused", "fused"]),
        ("lstm", False, True, ["fused", "fused", "loop"]),  # the fused LSTM has no final cell state
        ("lstm", True, False, ["loop", "loop", "loop"]),  # the fused ops ignore masks
        ("rnn", False, True, ["fused", "fused", "fused"]),  # final h is the last output
        ("rnn", True, True, ["unrolled", "unrolled", "unrolled"]),
        ("gru", False, True, ["unrolled", "unrolled", "unrolled"]),  # no fused GRU op
    ],
)
def test_auto_picks_the_fastest_exact_form(cell, masked, return_state, expected):
    plan = plan_export(stack_model(cell, masked=masked, return_state=return_state), Lowering.AUTO)
    assert [layer.lowering.value for layer in plan.layers] == expected
    assert all(layer.reason.startswith("auto: fastest exact form") for layer in plan.layers)
    assert [layer.masked for layer in plan.layers] == [masked] * 3
    if masked:
        assert "not fused: it receives a mask" in plan.layers[0].reason or cell == "gru"


def test_auto_loops_over_long_or_dynamic_sequences():
    long = plan_export(stack_model("gru", steps=300), Lowering.AUTO)
    assert {layer.lowering for layer in long.layers} == {Lowering.LOOP}
    assert "300 time steps is more than auto unrolls (256)" in long.layers[0].reason
    dynamic = plan_export(stack_model("lstm", steps=None, return_state=False), Lowering.AUTO, dynamic_length=True)
    assert {layer.lowering for layer in dynamic.layers} == {Lowering.LOOP}
    assert dynamic.inputs[0].shape == (1, None, F)


@pytest.mark.parametrize(
    "cell, masked, asked, message",
    [
        (
            "gru",
            False,
            "fused",
            r"`backwards` \(GRU\) cannot be lowered as fused: LiteRT has no fused GRU op; lowerings that work for it: unrolled, loop",
        ),
        (
            "lstm",
            True,
            "fused",
            r"`backwards` \(LSTM\) cannot be lowered as fused: it receives a mask .*unrolled, loop",
        ),
        ("lstm", False, "fused", r"`with_state` \(LSTM\) cannot be lowered as fused: return_state=True"),
    ],
)
def test_impossible_requests_name_the_layer_and_what_works(cell, masked, asked, message):
    with pytest.raises(UnsupportedModelError, match=message):
        plan_export(stack_model(cell, masked=masked), asked)


def test_dynamic_batch_rules_out_fused():
    model = stack_model("lstm", return_state=False)
    with pytest.raises(UnsupportedModelError, match="fused ops need a fixed batch size"):
        plan_export(model, Lowering.FUSED, batch_size=None)
    plan = plan_export(model, Lowering.AUTO, batch_size=None)
    assert {layer.lowering for layer in plan.layers} == {Lowering.LOOP}
    assert plan.inputs[0].shape == (None, T, F)
