"""Converted .tflite files against Keras, and the op census against the plan.

The matrix: every cell × every lowering × {1, 64} time steps × {masked, not masked}, on a model
that stacks a go_backwards layer, a Bidirectional layer (two directions) and a last layer, all
returning sequences but the last.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnx.exporter.errors import ConversionError, UnsupportedModelError  # noqa: E402
from rnnx.exporter.export import convert_model  # noqa: E402
from rnnx.exporter.lowering import Lowering  # noqa: E402
from rnnx.exporter.planning import plan_export  # noqa: E402
from rnnx.exporter.runtime.model_file import op_census  # noqa: E402

from builders import features, run_tflite, stack_model  # noqa: E402

FUSED_OP = {"lstm": "UNIDIRECTIONAL_SEQUENCE_LSTM", "rnn": "UNIDIRECTIONAL_SEQUENCE_RNN"}
DIRECTIONS = 4  # backwards (1) + both_ways (2) + with_state (1)


def _inputs(steps: int, masked: bool, seed: int = 3) -> np.ndarray:
    x = features(seed, batch=2, steps=steps)
    if masked and steps > 4:
        x[0, :3] = 0.0  # padding in front
        x[1, -5:] = 0.0  # padding at the end: masked steps must hold the state
    return x


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
@pytest.mark.parametrize("steps", [1, 64])
@pytest.mark.parametrize(
    "lowering", [lo for lo in Lowering if lo is not Lowering.STEPPED]
)  # stepped: test_quantization
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_matrix_against_keras_and_census(cell, lowering, steps, masked):
    model = stack_model(cell, masked=masked, steps=steps, return_state=False)
    fusable = cell != "gru" and not masked
    if lowering is Lowering.FUSED and not fusable:
        with pytest.raises(
            UnsupportedModelError, match=r"`backwards` \((GRU|LSTM|SimpleRNN)\) cannot be lowered as fused"
        ):
            plan_export(model, lowering, batch_size=2)
        return
    plan = plan_export(model, lowering, batch_size=2)
    data = convert_model(model, plan)
    census = op_census(data)
    plan.check_census(census)
    concrete = {layer.lowering for layer in plan.layers}
    if lowering is Lowering.AUTO:
        fallback = Lowering.LOOP if cell == "lstm" else Lowering.UNROLLED
        assert concrete == {Lowering.FUSED if fusable else fallback}
    if concrete == {Lowering.FUSED}:
        assert census.get(FUSED_OP[cell]) == DIRECTIONS and "WHILE" not in census
    elif concrete == {Lowering.LOOP}:
        assert census.get("WHILE") == DIRECTIONS and not set(FUSED_OP.values()) & set(census)
    else:
        assert "WHILE" not in census and not set(FUSED_OP.values()) & set(census)
    x = _inputs(steps, masked)
    expected = np.asarray(model(x))
    first = run_tflite(data, {"features": x})["head"]
    error = float(np.abs(first - expected).max())
    assert error <= 1e-5, f"{cell}/{lowering.value}/T={steps}/masked={masked}: max abs error {error:.3e}"


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_fused_state_is_reset_between_independent_sequences(cell, tmp_path):
    """Fused ops keep state in variable tensors; the predictor resets it before every run."""
    import json

    from rnnx.exporter.runtime.metadata import METADATA_NAME, ModelMetadata
    from rnnx.exporter.runtime.model_file import has_variable_tensors, with_metadata
    from rnnx.exporter.runtime.predictor import Predictor

    model = stack_model(cell, return_state=False)
    plan = plan_export(model, Lowering.FUSED)
    data = convert_model(model, plan)
    assert has_variable_tensors(data)
    meta = ModelMetadata(
        task={"kind": "raw", "labels": None, "threshold": None, "output": "head"},
        inputs=[{**plan.inputs[0].to_dict(), "kind": "features"}],
        outputs=[{"name": "head", "dtype": "float32", "shape": [1, 2]}],
        tokenizer=None,
        lowering={"requested": "fused", "layers": [layer.to_dict() for layer in plan.layers]},
        op_census=op_census(data),
        provenance={},
    )
    path = tmp_path / "fused.tflite"
    path.write_bytes(with_metadata(data, METADATA_NAME, meta.to_bytes()))
    predictor = Predictor(path)
    x, other = _inputs(9, False)[:1], _inputs(9, False, seed=8)[:1]
    expected = np.asarray(model(x))
    first = predictor.run({"features": x})["head"]
    predictor.run({"features": other})
    again = predictor.run({"features": x})["head"]
    assert np.abs(first - expected).max() <= 1e-5
    assert again.tolist() == first.tolist(), json.dumps([first.tolist(), again.tolist()])
    # Without the reset the state leaks: the raw interpreter shows it.
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=data).get_signature_runner("serving_default")
    leaked = runner(features=x)["head"]
    leaked = runner(features=x)["head"]
    assert np.abs(leaked - expected).max() > 1e-3


def test_fused_lstm_does_not_clip_the_cell_state():
    """The converter writes cell_clip=10 into the fused LSTM; Keras does not clip. rnnx resets it to 0."""
    keras.utils.set_random_seed(0)
    steps, units = 40, 2
    inputs = keras.Input((steps, 1), name="features")
    layer = keras.layers.LSTM(units, name="saturated")
    model = keras.Model(inputs, layer(inputs))
    # i, f, o saturate at 1 and the candidate follows the input's sign: c grows by about 1 per step.
    kernel = np.zeros((1, 4 * units), np.float32)
    kernel[0, 2 * units : 3 * units] = 20.0
    bias = np.zeros(4 * units, np.float32)
    bias[: 2 * units] = 20.0
    bias[3 * units :] = 20.0
    layer.set_weights([kernel, np.zeros((units, 4 * units), np.float32), bias])
    x = np.concatenate([np.ones((1, 25, 1)), -np.ones((1, 15, 1))], axis=1).astype(np.float32)
    expected = np.asarray(model(x))  # c ends near 25 - 15 = 10 > 0: h near +0.76 per unit
    plan = plan_export(model, Lowering.FUSED)
    got = run_tflite(convert_model(model, plan), {"features": x})["saturated"]
    assert np.abs(got - expected).max() <= 1e-5, (got, expected)  # clipped at 10, c would end near -5


def test_census_check_fails_when_the_file_contradicts_the_plan():
    model = stack_model("lstm", return_state=False)
    fused_plan = plan_export(model, Lowering.FUSED)
    loop_bytes = convert_model(model, plan_export(model, Lowering.LOOP))
    with pytest.raises(
        ConversionError,
        match=r"4 WHILE op\(s\) where the plan implies 0; 0 UNIDIRECTIONAL_SEQUENCE_LSTM op\(s\) where the plan implies 4",
    ):
        fused_plan.check_census(op_census(loop_bytes))
    with pytest.raises(ConversionError, match="non-builtin ops: FlexTensorListReserve"):
        fused_plan.check_census({"UNIDIRECTIONAL_SEQUENCE_LSTM": 4, "FlexTensorListReserve": 1})


def test_loop_takes_a_dynamic_batch_and_length():
    model = stack_model("gru", masked=True, steps=None)
    plan = plan_export(model, Lowering.LOOP, batch_size=None, dynamic_length=True)
    data = convert_model(model, plan)
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=data).get_signature_runner("serving_default")
    for batch, steps in ((1, 9), (3, 5), (2, 17)):
        x = features(batch + steps, batch=batch, steps=steps)
        x[0, :2] = 0.0
        assert np.abs(runner(features=x)["head"] - np.asarray(model(x))).max() <= 1e-5


def test_a_model_configured_for_cudnn_exports_on_the_cpu():
    """Weights trained with cuDNN kernels (use_cudnn=True) are plain GRU weights: rnnx never calls the layer."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 3), name="features")
    gpu = keras.Model(inputs, keras.layers.GRU(5, use_cudnn=True, name="gru")(inputs))
    cpu_inputs = keras.Input((12, 3), name="features")
    cpu = keras.Model(cpu_inputs, keras.layers.GRU(5, use_cudnn=False, name="gru")(cpu_inputs))
    cpu.set_weights(gpu.get_weights())
    plan = plan_export(gpu, Lowering.AUTO)
    x = features(6, batch=1, steps=12)
    got = run_tflite(convert_model(gpu, plan), {"features": x})["gru"]
    assert np.abs(got - np.asarray(cpu(x))).max() <= 1e-5


def test_ops_without_builtin_kernels_are_listed():
    import tensorflow as tf

    from rnnx.exporter.conversion import convert_signatures

    @tf.function(input_signature=[tf.TensorSpec([1], tf.string, name="text")])
    def needs_flex(text):
        return {"length": tf.strings.length(text)}

    with pytest.raises(ConversionError, match=r"no builtin TFLite kernel.*: StringLength;"):
        convert_signatures({"serving_default": needs_flex}, {"serving_default": ["text"]})


@pytest.mark.parametrize("lowering", [Lowering.AUTO, Lowering.LOOP, Lowering.UNROLLED])
def test_encoder_decoder_initial_state_from_another_layer(lowering):
    """A decoder LSTM that starts from the encoder's final states: not fusable, exact otherwise."""
    keras.utils.set_random_seed(4)
    source = keras.Input((7, 3), name="source")
    target = keras.Input((5, 2), name="target")
    _, h, c = keras.layers.LSTM(4, return_state=True, name="encoder")(source)
    decoded = keras.layers.LSTM(4, return_sequences=True, name="decoder")(target, initial_state=[h, c])
    model = keras.Model([source, target], keras.layers.Dense(1, name="score")(decoded))
    plan = plan_export(model, lowering)
    chosen = {layer.name: layer.lowering for layer in plan.layers}
    if lowering is Lowering.AUTO:
        assert chosen == {"encoder": Lowering.LOOP, "decoder": Lowering.LOOP}
        assert "initial state from another tensor" in plan.layers[1].reason
    with pytest.raises(
        UnsupportedModelError, match=r"`decoder` \(LSTM\) cannot be lowered as fused: it takes an initial state"
    ):
        plan_export(model, Lowering.FUSED, layer_lowerings={"encoder": "loop"})
    data = convert_model(model, plan)
    plan.check_census(op_census(data))
    rng = np.random.default_rng(0)
    x = {
        "source": rng.standard_normal((1, 7, 3)).astype(np.float32),
        "target": rng.standard_normal((1, 5, 2)).astype(np.float32),
    }
    expected = np.asarray(model([x["source"], x["target"]]))
    assert np.abs(run_tflite(data, x)["score"] - expected).max() <= 1e-5
