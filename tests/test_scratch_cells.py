"""Hand-written cells (d2l.ai equations) against the Keras layers, and their export."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnx.exporter.export import convert_model  # noqa: E402
from rnnx.exporter.lowering import Lowering  # noqa: E402
from rnnx.exporter.planning import plan_export  # noqa: E402
from rnnx.models.scratch.cells import SCRATCH_CELLS, OneHot, ScratchGRUCell  # noqa: E402

from builders import run_tflite  # noqa: E402

T, V, H = 11, 7, 5
KERAS = {
    "rnn": lambda: keras.layers.SimpleRNN(H, return_sequences=True),
    "gru": lambda: keras.layers.GRU(H, return_sequences=True, reset_after=False),
    "lstm": lambda: keras.layers.LSTM(H, return_sequences=True),
}


def _scratch_model(cell: str):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((T,), dtype="int32", name="chars")
    x = keras.layers.RNN(SCRATCH_CELLS[cell](H, sigma=0.5), return_sequences=True, name="rnn")(OneHot(V)(inputs))
    return keras.Model(inputs, keras.layers.Dense(V, name="logits")(x))


def _ids(seed=0):
    return np.random.default_rng(seed).integers(0, V, size=(3, T)).astype(np.int32)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_scratch_cell_equals_the_keras_layer_with_the_same_weights(cell):
    model = _scratch_model(cell)
    scratch = model.get_layer("rnn").cell
    assert {w.name for w in scratch.weights} >= {"W_xh", "W_hh", "b_h"} or cell == "lstm"
    eq = scratch.rnnx_equivalent()
    layer = KERAS[cell]()
    onehot = keras.ops.one_hot(_ids(), V)
    layer(onehot)
    layer.set_weights([eq["kernel"], eq["recurrent_kernel"], eq["bias"]])
    expected = np.asarray(layer(onehot))
    got = np.asarray(keras.layers.RNN(scratch, return_sequences=True)(onehot))
    assert np.abs(got - expected).max() <= 1e-6


def test_initialisation_follows_the_book():
    cell = ScratchGRUCell(256)
    cell.build((None, 28))
    weights = {w.name: w.numpy() for w in cell.weights}
    assert sorted(weights) == sorted(f"{p}_{g}" if p == "b" else f"{p}{g}" for g in "zrh" for p in ("W_x", "W_h", "b"))
    assert weights["W_xz"].shape == (28, 256) and weights["W_hh"].shape == (256, 256)
    assert 0.009 < weights["W_hh"].std() < 0.011 and abs(weights["W_hh"].mean()) < 0.001
    assert not weights["b_r"].any()


@pytest.mark.parametrize(
    "cell, fused_op", [("rnn", "UNIDIRECTIONAL_SEQUENCE_RNN"), ("lstm", "UNIDIRECTIONAL_SEQUENCE_LSTM"), ("gru", None)]
)
def test_scratch_cells_export_and_map_to_fused_ops_where_exact(cell, fused_op):
    from rnnx.exporter.runtime.model_file import op_census

    model = _scratch_model(cell)
    ids = _ids(1)
    expected = np.asarray(model(ids))
    for lowering in (Lowering.AUTO, Lowering.LOOP, Lowering.UNROLLED):
        plan = plan_export(model, lowering, batch_size=3)
        data = convert_model(model, plan)
        census = op_census(data)
        plan.check_census(census)
        if lowering is Lowering.AUTO:
            assert (census.get(fused_op) == 1) if fused_op else ("WHILE" not in census)
        got = run_tflite(data, {"chars": ids})["logits"]
        assert np.abs(got - expected).max() <= 1e-5, (cell, lowering)
