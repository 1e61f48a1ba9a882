"""Quantization: every mode × cell converts and matches the float model, or is refused up front with the reason."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from rnnx.exporter.cli import app  # noqa: E402
from rnnx.exporter.errors import InputFileError, UnsupportedModelError  # noqa: E402
from rnnx.exporter.export import ExportOptions, export_model  # noqa: E402
from rnnx.exporter.inspection import inspect_model  # noqa: E402
from rnnx.exporter.quantization import Quantization  # noqa: E402
from rnnx.exporter.runtime.predictor import Predictor  # noqa: E402
from rnnx.exporter.tolerances import tolerance_for  # noqa: E402

from builders import cell_layer  # noqa: E402

T, WORDS, F = 12, 300, 3  # 300×4 embedding: over the 1,024 elements dynamic range needs


HEAD_SCALE = {"gru": 3.0, "lstm": 8.0, "rnn": 3.0}  # LSTM hidden states are smaller


def _token_model(cell: str):
    """Embedding → cell(6, return_sequences) → cell(4) → Dense(1, sigmoid), as the seed model but tiny."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((T,), dtype="int32", name="token_ids")
    spread = keras.initializers.RandomNormal(0.0, 1.0)  # outputs away from 0.5, as a trained model's
    x = keras.layers.Embedding(WORDS, 4, embeddings_initializer=spread, name="embedding")(inputs)
    x = cell_layer(cell)(6, return_sequences=True, name="first")(x)
    x = cell_layer(cell)(4, name="second")(x)
    head = keras.layers.Dense(
        1,
        activation="sigmoid",
        kernel_initializer=keras.initializers.RandomNormal(0.0, HEAD_SCALE[cell]),
        name="probability",
    )
    return keras.Model(inputs, head(x))


def _feature_model(cell: str):
    keras.utils.set_random_seed(6)
    inputs = keras.Input((T, F), name="features")
    x = cell_layer(cell)(6, return_sequences=True, name="first")(inputs)
    x = cell_layer(cell)(4, name="second")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="scores")(x))


def _token_rows(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, WORDS, size=(count, T)).astype(np.int32)


def _feature_rows(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, T, F)).astype(np.float32)


def _export(tmp_path, model, rows, mode, **options):
    source = tmp_path / "model.keras"
    model.save(source)
    np.save(tmp_path / "representative.npy", rows)
    out = tmp_path / f"model.{mode}.tflite"
    export_model(
        source,
        out,
        ExportOptions(
            quantize=Quantization(mode),
            representative_data=tmp_path / "representative.npy" if mode in ("int8", "int16x8") else None,
            representative_samples=len(rows),
            isolate=False,
            **options,
        ),
    )
    return out


# (cell, mode) → the form rnnx routes to, or a part of the refusal message.
TOKEN_ROUTES = {
    ("gru", "none"): "sequence",
    ("gru", "float16"): "sequence",
    ("gru", "dynamic"): "sequence",
    ("gru", "int8"): "stepped",
    ("gru", "int16x8"): "cannot calibrate the integer token input",
    ("lstm", "none"): "sequence",
    ("lstm", "float16"): "sequence",
    ("lstm", "dynamic"): "sequence",
    ("lstm", "int8"): "sequence",
    ("lstm", "int16x8"): "cannot calibrate the integer token input",
    ("rnn", "none"): "sequence",
    ("rnn", "float16"): "sequence",
    ("rnn", "dynamic"): "sequence",
    ("rnn", "int8"): "stepped",
    ("rnn", "int16x8"): "cannot calibrate the integer token input",
}


@pytest.mark.parametrize(("cell", "mode"), sorted(TOKEN_ROUTES))
def test_every_mode_and_cell_converts_and_matches_or_is_refused(tmp_path, cell, mode):
    model = _token_model(cell)
    expected_route = TOKEN_ROUTES[(cell, mode)]
    if expected_route not in ("sequence", "stepped"):
        with pytest.raises(UnsupportedModelError, match=expected_route) as refused:
            _export(tmp_path, model, _token_rows(40, 1), mode)
        assert "use --quantize int8" in str(refused.value)  # the nearest working option
        assert not list(tmp_path.glob("*.tflite"))
        return
    out = _export(tmp_path, model, _token_rows(40, 1), mode)
    predictor = Predictor(out)
    quantization = predictor.metadata.quantization
    assert quantization["mode"] == mode and quantization["form"] == expected_route
    rows = _token_rows(50, 2)
    expected = model.predict(rows, verbose=0)
    got = predictor.predict_ids(rows)
    assert got.shape == expected.shape == (50, 1)
    tolerance = tolerance_for([layer["lowering"] for layer in predictor.metadata.lowering["layers"]], mode)
    error = np.abs(got - expected)
    judged = error.max() if tolerance.statistic == "max" else np.percentile(error, 99)
    assert judged <= tolerance.atol + tolerance.rtol * np.abs(expected).max(), (judged, tolerance)
    if mode == "none":
        assert error.max() < 1e-5
    elif mode in ("int8", "dynamic"):
        assert error.max() > 1e-6  # it really is quantized: not a float file under another name
    # an untrained model's outputs crowd 0.5; a row further from it than the allowed error must not flip
    decisive = np.abs(expected - 0.5) > tolerance.atol + tolerance.rtol
    assert decisive.sum() >= 10
    assert ((got >= 0.5) == (expected >= 0.5))[decisive].mean() >= tolerance.min_agreement
    types = inspect_model(out)["tensor_types"]
    if mode == "int8":
        assert types["INT8"]["quantized"] > 0 and types["INT8"]["bytes"] >= WORDS * 4  # int8 embedding
    if mode == "float16":
        assert types["FLOAT16"]["bytes"] >= WORDS * 4 * 2


def test_integer_only_step_signature_streams_like_the_sequence(tmp_path):
    """The stepped int8 GRU: the predictor's whole-sequence run equals pushing the steps one by one."""
    model = _token_model("gru")
    out = _export(tmp_path, model, _token_rows(40, 1), "int8")
    predictor = Predictor(out)
    assert predictor.signatures == ["step"]
    rows = _token_rows(3, 4)
    whole = predictor.predict_ids(rows)
    stream = predictor.stream()
    for r, row in enumerate(rows):
        stream.reset()
        for token in row:
            last = stream.push({"token_ids": np.array([[token]], np.int32)})
        np.testing.assert_array_equal(last["probability"].reshape(-1), whole[r])


def test_int16x8_on_float_features_and_integer_io(tmp_path):
    """16x8 works for float inputs (stepped form); --integer-io makes the file take int16 and the predictor converts."""
    model = _feature_model("gru")
    rows = _feature_rows(60, 1)
    out = _export(tmp_path, model, rows, "int16x8", integer_io=True)
    predictor = Predictor(out)
    assert predictor.metadata.quantization["form"] == "stepped"
    step = inspect_model(out)["signatures"]["step"]
    features = next(t for t in step["inputs"] if t["name"] == "features")
    assert features["dtype"] == "int16" and features["quantization"]["scale"] > 0
    test = _feature_rows(20, 2)
    expected = model.predict(test, verbose=0)
    got = predictor.predict_batches({"features": test})["scores"]
    assert got.dtype == np.float32 and got.shape == expected.shape
    scale = np.abs(expected).max()
    assert np.percentile(np.abs(got - expected), 99) <= 0.02 + 0.02 * scale
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9


def test_refusals_name_the_reason_and_what_works(tmp_path):
    rows = _feature_rows(10, 1)
    with pytest.raises(UnsupportedModelError, match="refuses 16x8 for the fused LSTM.*--quantize int8"):
        _export(tmp_path, _feature_model("lstm"), rows, "int16x8")
    keras.utils.set_random_seed(7)
    inputs = keras.Input((T, F), name="features")
    x = keras.layers.GRU(4, go_backwards=True, name="backwards")(inputs)
    backwards = keras.Model(inputs, keras.layers.Dense(1)(x))
    with pytest.raises(UnsupportedModelError, match="no step signature.*use --quantize dynamic or float16"):
        _export(tmp_path, backwards, rows, "int8")
    with pytest.raises(UnsupportedModelError, match="fixed batch size; drop --dynamic-batch"):
        _export(tmp_path, _feature_model("gru"), rows, "int8", batch_size=None)
    with pytest.raises(UnsupportedModelError, match="with --lowering loop: a WHILE loop cannot be calibrated"):
        _export(tmp_path, _feature_model("gru"), rows, "int8", lowering="loop")
    with pytest.raises(UnsupportedModelError, match="no 16x8 kernels for the ops a mask needs"):
        keras.utils.set_random_seed(9)
        masked_in = keras.Input((T, F), name="features")
        masked = keras.layers.GRU(4)(keras.layers.Masking(0.0)(masked_in))
        _export(tmp_path, keras.Model(masked_in, keras.layers.Dense(1)(masked)), rows, "int16x8")
    with pytest.raises(InputFileError, match=r"representative rows must be \[n, 12"):
        _export(tmp_path, _feature_model("gru"), _feature_rows(5, 1)[:, :5], "int8")
    assert not list(tmp_path.glob("*.tflite"))


def test_default_calibration_uses_imdb_training_reviews(tiny_run, shared_data, tmp_path):
    out = tmp_path / "tiny.int8.tflite"
    export_model(
        tiny_run / "model.keras",
        out,
        ExportOptions(quantize=Quantization.INT8, data=str(shared_data), representative_samples=30, isolate=False),
    )
    meta = Predictor(out).metadata
    assert meta.quantization["representative"].startswith("30 IMDB training reviews from")
    assert meta.step["signature"] == "step"


def test_cli_export_quantized_and_inspect(tiny_run, shared_data, tmp_path):
    runner = CliRunner()
    out = tmp_path / "tiny.dynamic.tflite"
    result = runner.invoke(app, ["export", str(tiny_run / "model.keras"), "-o", str(out), "--quantize", "dynamic"])
    assert result.exit_code == 0, result.output
    assert "quantized dynamic" in result.output
    shown = runner.invoke(app, ["inspect", str(out)])
    assert shown.exit_code == 0 and "tensor types" in shown.output and "quantization: dynamic" in shown.output
    info = json.loads(runner.invoke(app, ["inspect", str(out), "--json"]).output)
    assert info["rnnx"]["quantization"]["mode"] == "dynamic"
    refused = runner.invoke(
        app, ["export", str(tiny_run / "model.keras"), "-o", str(tmp_path / "x.tflite"), "--quantize", "int16x8"]
    )
    assert refused.exit_code == 2
    assert "cannot calibrate the integer token input" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_float_stepped_form_equals_keras_and_needs_a_step_signature(tmp_path, cell):
    """--lowering stepped in float32: the predictor runs the steps; exact to float32 rounding."""
    from rnnx.exporter.lowering import Lowering

    model = _token_model(cell)
    out = _export(tmp_path, model, _token_rows(4, 1), "none", lowering=Lowering.STEPPED)
    predictor = Predictor(out)
    assert predictor.signatures == ["step"] and predictor.stepped
    rows = _token_rows(20, 3)
    np.testing.assert_allclose(predictor.predict_ids(rows), model.predict(rows, verbose=0), atol=1e-5)
    keras.utils.set_random_seed(8)
    inputs = keras.Input((T, F), name="features")
    backwards = keras.Model(inputs, keras.layers.Dense(1)(cell_layer(cell)(4, go_backwards=True)(inputs)))
    with pytest.raises(UnsupportedModelError, match="stepped form needs a step signature.*go_backwards"):
        _export(tmp_path, backwards, _feature_rows(4, 1), "none", lowering=Lowering.STEPPED)


def test_explain_shows_the_quantized_plan(tmp_path):
    from rnnx.exporter.export import explain_export

    model = _token_model("gru")
    model.save(tmp_path / "model.keras")
    plan = explain_export(tmp_path / "model.keras", ExportOptions(quantize=Quantization.INT8))
    assert {layer.lowering.value for layer in plan.layers} == {"stepped"}
    assert any(note.startswith("--quantize int8: stepped form") for note in plan.notes)
    with pytest.raises(UnsupportedModelError, match="cannot calibrate the integer token input"):
        explain_export(tmp_path / "model.keras", ExportOptions(quantize=Quantization.INT16X8))
