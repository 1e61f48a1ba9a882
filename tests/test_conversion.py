"""Converted .tflite files against Keras, and the op census against the plan."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from builders import features, run_tflite, stack_model  # noqa: E402

from rnnx.exporter.errors import ConversionError  # noqa: E402
from rnnx.exporter.export import convert_model  # noqa: E402
from rnnx.exporter.lowering import Lowering  # noqa: E402
from rnnx.exporter.planning import plan_export  # noqa: E402
from rnnx.exporter.runtime.model_file import op_census  # noqa: E402


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("lowering", list(Lowering))
def test_converted_stack_equals_keras_and_census_matches_plan(cell, lowering):
    model = stack_model(cell, masked=True)
    plan = plan_export(model, lowering, batch_size=2)
    data = convert_model(model, plan)
    census = op_census(data)
    plan.check_census(census)
    # backwards (1) + both_ways (2 directions) + with_state (1)
    assert census.get("WHILE", 0) == (4 if lowering is Lowering.LOOP else 0)
    assert not any(op.startswith("Flex") for op in census)
    x = features(3)
    x[0, :2] = 0.0
    x[1, -3:] = 0.0
    got = run_tflite(data, {"features": x})["head"]
    expected = np.asarray(model(x))
    error = float(np.abs(got - expected).max())
    assert error <= 1e-5, f"{cell}/{lowering.value}: max abs error {error:.3e}"


@pytest.mark.parametrize("lowering", list(Lowering))
def test_single_time_step(lowering):
    model = stack_model("lstm", steps=1)
    plan = plan_export(model, lowering)
    data = convert_model(model, plan)
    plan.check_census(op_census(data))
    x = features(4, batch=1, steps=1)
    assert np.abs(run_tflite(data, {"features": x})["head"] - np.asarray(model(x))).max() <= 1e-5


def test_loop_runs_a_dynamic_length_model_at_the_pinned_length():
    model = stack_model("gru", steps=None)
    plan = plan_export(model, Lowering.LOOP, sequence_length=6)
    data = convert_model(model, plan)
    x = features(5, batch=1, steps=6)
    assert run_tflite(data, {"features": x})["head"].shape == (1, 2)
    assert np.abs(run_tflite(data, {"features": x})["head"] - np.asarray(model(x))).max() <= 1e-5


def test_census_check_fails_when_the_file_contradicts_the_plan():
    model = stack_model("gru")
    loop_plan = plan_export(model, Lowering.LOOP)
    unrolled_bytes = convert_model(model, plan_export(model, Lowering.UNROLLED))
    with pytest.raises(ConversionError, match=r"0 WHILE op\(s\) but the plan .* implies 4"):
        loop_plan.check_census(op_census(unrolled_bytes))
    with pytest.raises(ConversionError, match="non-builtin ops: FlexTensorListReserve"):
        loop_plan.check_census({"WHILE": 4, "FlexTensorListReserve": 1})


def test_ops_without_builtin_kernels_are_listed():
    import tensorflow as tf

    from rnnx.exporter.conversion import convert_signatures

    @tf.function(input_signature=[tf.TensorSpec([1], tf.string, name="text")])
    def needs_flex(text):
        return {"length": tf.strings.length(text)}

    with pytest.raises(ConversionError, match=r"no builtin TFLite kernel.*: StringLength;"):
        convert_signatures({"serving_default": needs_flex}, {"serving_default": ["text"]})
