"""rnnx verify: every check passes on good exports, and every check is shown able to fail."""

import json

import numpy as np
import pytest

from rnnx.exporter.tolerances import TOLERANCES, Tolerance, tolerance_for
from rnnx.exporter.verification import load_report, recheck, save_report, verify_model
from rnnx.exporter.verification.inputs import random_token_ids
from rnnx.exporter.verification.metrics import output_metrics
from rnnx.exporter.verification.report import Compared, judge

EXPECTED_CHECKS = [
    "real reviews",
    "random tokens",
    "recurrent layers",
    "step vs sequence",
    "same input twice",
    "back to back",
    "stream reset",
]


@pytest.mark.parametrize("lowering", ["loop", "unrolled"])
def test_good_exports_pass_every_check(tiny_run, tiny_exports, shared_data, lowering, tmp_path):
    report = verify_model(
        tiny_run / "model.keras", tiny_exports[lowering], data=shared_data, samples=60, random_samples=20
    )
    assert report.passed, [(c.name, c.max_abs_error) for c in report.checks if not c.passed]
    assert [c.name for c in report.checks] == EXPECTED_CHECKS
    real = report.checks[0]
    assert real.rows == 60 and real.decision_agreement == 1.0
    assert real.metric == "accuracy" and real.reference_metric == real.converted_metric
    layers = report.checks[2]
    assert [o.name for o in layers.outputs] == ["layer gru_1", "layer gru_2", "layer gru_3"]
    assert len(layers.outputs[0].error_by_step) == 24 and layers.outputs[2].error_by_step is None
    metrics = real.outputs[0]
    assert 0 <= metrics.median_abs <= metrics.p99_abs <= metrics.max_abs <= 1e-5
    assert metrics.cosine > 0.999999
    assert report.runtime == {
        "name": "ai-edge-litert",
        "version": report.runtime["version"],
        "threads": 1,
        "xnnpack": True,
    }
    save_report(report, tmp_path / "report.json")
    again = load_report(tmp_path / "report.json")
    assert again.passed and [c.max_abs_error for c in again.checks] == [c.max_abs_error for c in report.checks]
    strict = recheck(again, atol=0.0, rtol=0.0)
    assert not strict.passed
    failed = {c.name for c in strict.checks if not c.passed}
    assert "real reviews" in failed and "same input twice" not in failed  # identical runs pass any tolerance
    loose = recheck(strict, atol=1e-3, rtol=0.0)
    assert loose.passed and loose.tolerance_source == "recheck"


def test_other_runtime_settings(tiny_run, tiny_exports, shared_data):
    report = verify_model(
        tiny_run / "model.keras",
        tiny_exports["loop"],
        data=shared_data,
        samples=20,
        random_samples=0,
        threads=2,
        xnnpack=False,
        state_samples=0,
        step_samples=0,
        all_runtimes=True,
    )
    assert report.passed and report.runtime["threads"] == 2 and report.runtime["xnnpack"] is False
    names = [c.name for c in report.checks]
    assert "litert 1t +xnnpack" in names and "litert 1t -xnnpack" in names


def test_perturbed_weights_fail_and_name_the_layer(tiny_run, tmp_path, shared_data):
    import keras

    from rnnx.exporter.export import ExportOptions, export_model

    model = keras.models.load_model(tiny_run / "model.keras")
    kernel = model.get_layer("gru_2").cell.recurrent_kernel
    kernel.assign(kernel.numpy() * 1.5)
    model.save(tmp_path / "model.keras")
    for name in ("tokenizer.json", "task.json"):
        (tmp_path / name).write_bytes((tiny_run / name).read_bytes())
    export_model(tmp_path / "model.keras", tmp_path / "perturbed.tflite", ExportOptions(lowering="loop", isolate=False))
    report = verify_model(
        tiny_run / "model.keras", tmp_path / "perturbed.tflite", data=shared_data, samples=30, random_samples=10
    )
    assert not report.passed
    checks = {c.name: c for c in report.checks}
    assert not checks["real reviews"].passed and not checks["recurrent layers"].passed
    assert checks["real reviews"].divergence["layer"] == "gru_2"  # gru_1 still agrees
    assert isinstance(checks["real reviews"].divergence["time_step"], int)
    assert checks["step vs sequence"].passed  # the file agrees with itself


def test_a_lowering_that_ignores_the_mask_is_caught(tmp_path, shared_data, monkeypatch):
    """The fused ops ignore masks; forced onto a masked model, verify names the layer and the step."""
    import keras

    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.lowering import fused
    from rnnx.models.text.tokenizer import WordTokenizer

    keras.utils.set_random_seed(4)
    inputs = keras.Input((20,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(50, 4, mask_zero=True)(inputs)
    x = keras.layers.LSTM(6, return_sequences=True, name="masked_lstm")(x)
    model = keras.Model(
        inputs, keras.layers.Dense(1, activation="sigmoid", name="probability")(keras.layers.LSTM(3, name="last")(x))
    )
    model.save(tmp_path / "model.keras")
    WordTokenizer([f"w{i}" for i in range(48)], max_tokens=20, padding="post").save(tmp_path / "tokenizer.json")
    monkeypatch.setattr(fused, "fused_obstacle", lambda spec, masked, state: None)
    export_model(
        tmp_path / "model.keras", tmp_path / "ignores_mask.tflite", ExportOptions(lowering="fused", isolate=False)
    )
    monkeypatch.undo()
    report = verify_model(tmp_path / "model.keras", tmp_path / "ignores_mask.tflite", samples=0, random_samples=12)
    assert not report.passed
    random = report.checks[0]
    assert random.name == "random tokens" and not random.passed
    assert random.divergence["layer"] == "masked_lstm"
    first_padding = min(
        int(np.argmax(row == 0))
        for row in random_token_ids(np.random.default_rng(0), 12, 20, 50, "post")
        if (row == 0).any()
    )
    assert random.divergence["time_step"] >= first_padding  # it starts where the padding starts


def test_a_model_that_breaks_beyond_the_verified_length_is_caught(tmp_path, monkeypatch):
    """A loop that is right for 16 steps and wrong after: the length sweep finds step 16 in the first layer."""
    import keras
    import tensorflow as tf

    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.lowering import loop

    keras.utils.set_random_seed(6)
    inputs = keras.Input((None, 3), name="features")
    x = keras.layers.GRU(5, return_sequences=True, name="first")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.GRU(4, name="second")(x)))
    model.save(tmp_path / "model.keras")
    original = loop.prepare

    def drifting(spec, inputs, mask=None, initial_state=None):
        prepared = original(spec, inputs, mask, initial_state)
        steps = tf.shape(prepared.projected[0])[0]
        scale = tf.where(tf.range(steps) >= 16, 1.5, 1.0)[:, None, None]  # the deliberate bug
        prepared.projected = [part * scale for part in prepared.projected]
        return prepared

    monkeypatch.setattr(loop, "prepare", drifting)
    options = ExportOptions(lowering="loop", dynamic_length=True, isolate=False)
    export_model(tmp_path / "model.keras", tmp_path / "drifts.tflite", options)
    monkeypatch.undo()
    report = verify_model(tmp_path / "model.keras", tmp_path / "drifts.tflite", samples=0, random_samples=6, length=16)
    checks = {c.name: c for c in report.checks}
    assert checks["random features"].passed  # at 16 steps all is well
    assert checks["length 1"].passed and checks["length 8"].passed and checks["length 16"].passed
    assert not checks["length 32"].passed and not report.passed
    assert checks["length 32"].divergence == {
        "layer": "first",
        "time_step": 16,
        "max_abs": checks["length 32"].divergence["max_abs"],
    }


def test_state_that_leaks_between_invocations_is_caught(tiny_run, tiny_exports, tmp_path):
    """A file whose output depends on a counter kept in a resource variable (which no reset clears)."""
    import keras
    import tensorflow as tf

    from rnnx.exporter.conversion import constant_call
    from rnnx.exporter.runtime.metadata import METADATA_NAME
    from rnnx.exporter.runtime.model_file import read_metadata, with_metadata

    model = keras.models.load_model(tiny_run / "model.keras")
    run = constant_call(model)

    class Leaky(tf.Module):
        def __init__(self):
            self.calls = tf.Variable(0.0)

        @tf.function(input_signature=[tf.TensorSpec([1, 24], tf.int32, name="token_ids")])
        def serve(self, token_ids):
            self.calls.assign_add(1.0)
            return {"probability": run(token_ids) + 0.01 * (self.calls - 1.0)}

    module = Leaky()
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures={"serving_default": module.serve})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    data = converter.convert()
    rnnx_entry = read_metadata(tiny_exports["loop"].read_bytes())[METADATA_NAME]
    (tmp_path / "leaky.tflite").write_bytes(with_metadata(data, METADATA_NAME, rnnx_entry))
    report = verify_model(
        tiny_run / "model.keras", tmp_path / "leaky.tflite", samples=0, random_samples=4, step_samples=0
    )
    checks = {c.name: c for c in report.checks}
    assert not checks["same input twice"].passed
    assert checks["same input twice"].max_abs_error == pytest.approx(0.04, abs=1e-4)  # 4 rows later
    assert not checks["back to back"].passed
    assert not report.passed


def test_metrics_known_answers():
    reference = np.array([[0.2], [0.6], [0.9]])
    converted = np.array([[0.2], [0.4], [0.9]])
    tolerance = Tolerance(0.1, 0.0, "test")
    metrics = output_metrics("p", reference, converted, tolerance)
    assert metrics.max_abs == pytest.approx(0.2) and metrics.mean_abs == pytest.approx(0.2 / 3)
    assert metrics.median_abs == 0.0 and metrics.worst_row == 1
    assert metrics.max_rel == pytest.approx(0.2 / 0.6) and metrics.smallest_atol == pytest.approx(0.2)
    assert not metrics.within
    compared = Compared({"p": (reference, converted)}, {"p": False}, labels=np.array([0, 1, 1]), threshold=0.5)
    check = judge("toy", "values", compared, tolerance, seed=0)
    assert check.decision_agreement == pytest.approx(2 / 3)
    assert check.reference_metric == 1.0 and check.converted_metric == pytest.approx(2 / 3)
    assert not check.passed
    sequence = np.zeros((2, 5, 3))
    drift = sequence.copy()
    drift[1, 3:, 0] = 0.5
    over = output_metrics("s", sequence, drift, Tolerance(0.1, 0.0, "test"), time_axis=True)
    assert over.error_by_step == [0.0, 0.0, 0.0, 0.5, 0.5] and over.first_step_over == 3
    relative = output_metrics("l", np.array([[100.0, 1.0]]), np.array([[100.0, 1.0005]]), Tolerance(1e-6, 1e-5, "t"))
    assert relative.within  # 5e-4 <= 1e-6 + 1e-5 * 100 (the scale of the row)


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_random_token_ids_are_padded_words(padding):
    ids = random_token_ids(np.random.default_rng(0), 10, 12, 50, padding)
    assert ids.shape == (10, 12) and ids.dtype == np.int32
    assert (ids[::2] >= 2).all()  # even rows are full length
    for row in ids:
        nonzero = np.flatnonzero(row)
        start = 12 - nonzero.size if padding == "pre" else 0
        assert nonzero.size >= 1 and (nonzero == np.arange(start, start + nonzero.size)).all()
        assert row.max() < 50


def test_tolerance_table_has_a_reason_for_every_row():
    assert all(row.reason and row.atol > 0 and row.rtol >= 0 for row in TOLERANCES.values())
    assert tolerance_for(["loop", "unrolled"]).atol == 1e-5
    assert tolerance_for([]) is TOLERANCES[("none", "none")]


def test_selftest_passes_and_fails_on_a_tampered_file(tiny_exports, tmp_path):
    from typer.testing import CliRunner

    from rnnx.exporter.cli import app
    from rnnx.exporter.runtime.model_file import schema

    runner = CliRunner()
    good = runner.invoke(app, ["infer", str(tiny_exports["unrolled"]), "--selftest"])
    assert good.exit_code == 0 and good.output.startswith("selftest PASS: 2 recorded cases")
    data = bytearray(tiny_exports["unrolled"].read_bytes())
    fb = schema()
    graph = fb.Model.GetRootAsModel(data, 0).Subgraphs(0)
    model = fb.Model.GetRootAsModel(data, 0)
    weights = [graph.Tensors(i) for i in range(graph.TensorsLength())]
    weights = [t for t in weights if t.Type() == fb.TensorType.FLOAT32 and model.Buffers(t.Buffer()).DataLength() > 0]
    largest = max(weights, key=lambda t: model.Buffers(t.Buffer()).DataLength())  # the embedding table
    values = model.Buffers(largest.Buffer()).DataAsNumpy()
    base = np.frombuffer(data, np.uint8)
    start = values.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    tampered = base.copy()
    table = tampered[start : start + values.size].view(np.float32)
    table *= 3.0
    (tmp_path / "tampered.tflite").write_bytes(tampered.tobytes())
    bad = runner.invoke(app, ["infer", str(tmp_path / "tampered.tflite"), "--selftest"])
    assert bad.exit_code == 1 and bad.output.startswith("selftest FAIL")


def test_cli_writes_reports_and_rechecks(tiny_run, tiny_exports, shared_data, tmp_path):
    from typer.testing import CliRunner

    from rnnx.exporter.cli import app

    runner = CliRunner()
    args = ["verify", str(tiny_run / "model.keras"), str(tiny_exports["loop"]), "--data", str(shared_data)]
    result = runner.invoke(app, [*args, "--samples", "30", "--random", "10", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["error_by_step.png", "verify_report.json", "verify_report.txt"]
    assert "PASS" in (tmp_path / "out" / "verify_report.txt").read_text()
    assert (tmp_path / "out" / "error_by_step.png").read_bytes()[:4] == b"\x89PNG"
    saved = str(tmp_path / "out" / "verify_report.json")
    assert runner.invoke(app, ["verify", "--recheck", saved]).exit_code == 0
    strict = runner.invoke(app, ["verify", "--recheck", saved, "--atol", "0", "--rtol", "0"])
    assert strict.exit_code == 1 and "FAIL" in strict.output
    data = json.loads(runner.invoke(app, ["verify", "--recheck", saved, "--json"]).output)
    assert data["version"] == 2 and data["checks"][0]["compared"] is None and data["seed"] == 0
    (tmp_path / "junk.json").write_text("{}")
    junk = runner.invoke(app, ["verify", "--recheck", str(tmp_path / "junk.json")])
    assert junk.exit_code == 2 and "not an rnnx verification report" in junk.output
