"""Sensor and speech sequences: data, the classifier zoo, training (checkpoints, resume), export, verify and infer."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from rnnx.exporter.cli import app  # noqa: E402
from rnnx.exporter.errors import InputFileError, InvalidInputError  # noqa: E402
from rnnx.exporter.export import ExportOptions, export_model  # noqa: E402
from rnnx.exporter.runtime.predictor import Predictor  # noqa: E402
from rnnx.exporter.runtime.sequences import read_sequences, stack_sequences  # noqa: E402
from rnnx.exporter.verification import verify_model  # noqa: E402
from rnnx.models.data.sensors import channel_statistics, load_sensor_dataset  # noqa: E402
from rnnx.models.training.sensors import SensorTrainConfig, stratified_split, train_sensors  # noqa: E402


def test_datasets_load_with_their_documented_shapes(shared_data):
    motions = load_sensor_dataset("basic_motions", shared_data)
    assert motions.train.x.shape == (40, 100, 6) and motions.test.x.shape == (40, 100, 6)
    assert motions.class_names == ("Standing", "Running", "Walking", "Badminton") and not motions.padded
    vowels = load_sensor_dataset("japanese_vowels", shared_data)
    assert vowels.train.x.shape == (270, 29, 12) and len(vowels.test) == 370 and vowels.padded
    assert not np.isnan(vowels.train.x).any()  # the file's NaN padding became zeros
    first = vowels.train
    assert (first.x[0, first.lengths[0] :] == 0).all() and (np.abs(first.x[0, : first.lengths[0]]).sum(1) > 0).all()
    mean, variance = channel_statistics(first)
    real = np.concatenate([first.x[i, : first.lengths[i]] for i in range(len(first))])
    np.testing.assert_allclose(mean, real.mean(0), rtol=1e-5, atol=1e-6)
    hapt = load_sensor_dataset("hapt", shared_data)
    assert hapt.train.x.shape[1:] == (128, 6) and len(hapt.class_names) == 12
    assert len(hapt.train) > 5000 and len(hapt.test) > 2000


def test_stratified_split_keeps_every_class(shared_data):
    motions = load_sensor_dataset("basic_motions", shared_data)
    train, valid = stratified_split(motions.train, 0.2, seed=0)
    assert len(train) == 32 and len(valid) == 8
    assert np.bincount(valid.y).tolist() == [2, 2, 2, 2]
    assert not set(map(bytes, train.x)) & set(map(bytes, valid.x))


@pytest.fixture(scope="module")
def vowels_run(shared_data, tmp_path_factory):
    """A small masked bidirectional GRU trained briefly on JapaneseVowels, then resumed for two more epochs."""
    out = tmp_path_factory.mktemp("vowels")
    config = SensorTrainConfig(
        dataset="japanese_vowels", units=(8,), bidirectional=True, epochs=2, batch_size=32, patience=50
    )
    train_sensors(config, shared_data, out, show_progress=False, log=lambda _: None)
    first = json.loads((out / "metrics.json").read_text())
    resumed = SensorTrainConfig(**{**config.__dict__, "epochs": 4, "resume": True})
    result = train_sensors(resumed, shared_data, out, show_progress=False, log=lambda _: None)
    return out, first, result.metrics


def test_training_writes_everything_and_resumes(vowels_run):
    out, first, metrics = vowels_run
    for name in ("model.keras", "task.json", "metrics.json", "training_curve.png", "checkpoints/last.keras"):
        assert (out / name).stat().st_size > 0, name
    assert any((out / "logs").rglob("events.out.tfevents.*"))  # TensorBoard
    task = json.loads((out / "task.json").read_text())
    assert task["kind"] == "multiclass_classification" and task["dataset"] == "japanese_vowels"
    assert task["labels"] == [str(i) for i in range(1, 10)]
    assert first["epochs_run"] == 2 and metrics["epochs_run"] == 4
    assert metrics["history"]["loss"][:2] == first["history"]["loss"]  # the resumed run continues the history
    assert metrics["history"]["loss"][3] < metrics["history"]["loss"][0]
    assert [v["layer"] for v in metrics["cudnn"]] == ["bi_gru_1/forward", "bi_gru_1/backward"]
    assert "right-padded" in metrics["cudnn"][0]["note"]


def test_resume_without_a_checkpoint_is_a_clear_error(shared_data, tmp_path):
    config = SensorTrainConfig(dataset="basic_motions", units=(4,), epochs=1, resume=True)
    with pytest.raises(InputFileError, match="no checkpoint"):
        train_sensors(config, shared_data, tmp_path, show_progress=False, log=lambda _: None)


def test_masked_sensor_model_exports_verifies_and_infers(vowels_run, shared_data, tmp_path):
    out, _, _ = vowels_run
    tflite = tmp_path / "vowels.tflite"
    export_model(out / "model.keras", tflite, ExportOptions(isolate=False))
    report = verify_model(out / "model.keras", tflite, data=shared_data, samples=60, random_samples=20)
    assert report.passed, report
    real = next(check for check in report.checks if check.name == "real sequences")
    assert real.rows == 60 and real.metric == "accuracy" and real.decision_agreement == 1.0
    assert real.reference_metric == real.converted_metric
    predictor = Predictor(tflite)
    assert predictor.takes_features and predictor.masks_padding
    vowels = load_sensor_dataset("japanese_vowels", shared_data)
    model = keras.saving.load_model(out / "model.keras")
    expected = model.predict(vowels.test.x[:5], verbose=0)
    # unpadded sequences of their own lengths: the predictor pads them as the dataset does
    sequences = [vowels.test.x[i, : vowels.test.lengths[i]] for i in range(5)]
    results = predictor.classify_sequences(sequences)
    np.testing.assert_allclose([r.probabilities for r in results], expected, atol=1e-5)
    assert [r.label for r in results] == [str(i + 1) for i in expected.argmax(1)]
    with pytest.raises(InputFileError, match="Bidirectional: its backward direction needs the whole sequence"):
        predictor.stream()  # no step signature for a model that reads backwards


def test_infer_reads_numeric_files_and_refuses_bad_shapes(vowels_run, tmp_path):
    out, _, _ = vowels_run
    tflite = tmp_path / "vowels.tflite"
    export_model(out / "model.keras", tflite, ExportOptions(isolate=False))
    rng = np.random.default_rng(0)
    two = [rng.standard_normal((12, 12)).astype(np.float32), rng.standard_normal((20, 12)).astype(np.float32)]
    (tmp_path / "two.jsonl").write_text(
        "\n".join(json.dumps({"features": s.tolist(), "id": i}) for i, s in enumerate(two)) + "\n"
    )
    header = ",".join(f"c{i}" for i in range(12))
    np.savetxt(tmp_path / "one.csv", two[0], delimiter=",", header=header, comments="")
    np.save(tmp_path / "two.npy", stack_sequences(two, 29, 12, pads=True))
    runner = CliRunner()
    expected = Predictor(tflite).classify_sequences(two)
    for name in ("two.jsonl", "two.npy", "one.csv"):
        result = runner.invoke(app, ["infer", str(tflite), "-i", str(tmp_path / name), "--json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.output)["predictions"]
        assert [r["label"] for r in rows] == [r.label for r in expected][: len(rows)]
        assert rows[0]["probability"] == pytest.approx(expected[0].probability, abs=1e-6)
        assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert [len(s) for s in read_sequences(tmp_path / "two.jsonl")] == [12, 20]
    np.save(tmp_path / "wide.npy", np.zeros((1, 10, 5), np.float32))
    np.save(tmp_path / "long.npy", np.zeros((1, 40, 12), np.float32))
    (tmp_path / "broken.csv").write_text("1,2,3\n4,x,6\n")
    for name, message in (
        ("wide.npy", "has 5 channels; the model takes 12"),
        ("long.npy", "has 40 steps; the model takes at most 29"),
        ("broken.csv", "step 2 is not all numbers"),
    ):
        result = runner.invoke(app, ["infer", str(tflite), "-i", str(tmp_path / name)])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    text = runner.invoke(app, ["infer", str(tflite), "-t", "hello"])
    assert text.exit_code == 2 and "takes numeric sequences, not texts" in text.output
    with pytest.raises(InvalidInputError, match="takes exactly 100"):
        stack_sequences([np.zeros((50, 6), np.float32)], 100, 6, pads=False)


def test_data_that_does_not_fit_is_a_clear_error(shared_data, tmp_path):
    with np.load(shared_data / "basic_motions.npz") as arrays:
        good = {key: arrays[key] for key in arrays.files}
    cases = {
        "channels": ({"X_test": good["X_test"][:, :, :5]}, "X_test has 5 channels × 100 steps, X_train 6 × 100"),
        "labels": ({"y_train": good["y_train"] + 4}, "labels outside 0…3"),
        "missing": ({"y_test": None}, "lacks the array 'y_test'"),
    }
    for name, (change, message) in cases.items():
        arrays = {k: v for k, v in {**good, **change}.items() if v is not None}
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(InputFileError, match=message):
            load_sensor_dataset("basic_motions", tmp_path / f"{name}.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InputFileError, match="not a readable .npz"):
        load_sensor_dataset("basic_motions", tmp_path / "empty.npz")


def test_int8_sensor_model_calibrates_on_its_dataset_and_verifies(vowels_run, shared_data, tmp_path):
    from rnnx.exporter.errors import UnsupportedModelError
    from rnnx.exporter.quantization import Quantization

    out, _, _ = vowels_run
    options = ExportOptions(quantize=Quantization.INT8, data=str(shared_data), representative_samples=40, isolate=False)
    with pytest.raises(UnsupportedModelError, match="Bidirectional.*use --quantize dynamic or float16"):
        export_model(out / "model.keras", tmp_path / "bi.tflite", options)  # no integer form for a bi-GRU
    config = SensorTrainConfig(dataset="japanese_vowels", units=(8,), epochs=3, batch_size=32)
    train_sensors(config, shared_data, tmp_path / "uni", show_progress=False, log=lambda _: None)
    tflite = tmp_path / "vowels.int8.tflite"
    export_model(tmp_path / "uni" / "model.keras", tflite, options)
    meta = Predictor(tflite).metadata
    assert meta.quantization["form"] == "stepped"
    assert meta.quantization["representative"].startswith("40 training sequences of japanese_vowels")
    report = verify_model(tmp_path / "uni" / "model.keras", tflite, data=shared_data, samples=80, random_samples=20)
    assert "perturbed features" in [check.name for check in report.checks]  # inside the calibrated ranges
    real = next(check for check in report.checks if check.name == "real sequences")
    assert real.decision_agreement >= 0.95, report


def test_numeric_inference_never_imports_tensorflow(vowels_run, shared_data, tmp_path):
    from test_device_side import run_without_tensorflow

    out, _, _ = vowels_run
    tflite = tmp_path / "vowels.tflite"
    export_model(out / "model.keras", tflite, ExportOptions(isolate=False))
    vowels = load_sensor_dataset("japanese_vowels", shared_data)
    np.save(tmp_path / "three.npy", vowels.test.x[:3])
    expected = [r.label for r in Predictor(tflite).classify_sequences(list(vowels.test.x[:3]))]
    result = run_without_tensorflow(
        f"""
        import contextlib, io, json
        from rnnx.exporter.cli import app

        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                app(["infer", {str(tflite)!r}, "--input", {str(tmp_path / "three.npy")!r}, "--json"])
        except SystemExit as done:
            assert done.code in (0, None), out.getvalue()
        print(json.dumps([row["label"] for row in json.loads(out.getvalue())["predictions"]]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == expected
