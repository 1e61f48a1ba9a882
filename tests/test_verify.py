import json

import numpy as np
import pytest

from rnnx.exporter.tolerances import TOLERANCES, Tolerance, tolerance_for
from rnnx.exporter.verify import compare, random_token_ids, verify_model


@pytest.mark.parametrize("lowering", ["loop", "unrolled"])
def test_exports_pass_on_real_and_random_inputs(tiny_run, tiny_exports, shared_data, lowering):
    report = verify_model(
        tiny_run / "model.keras", tiny_exports[lowering], data=shared_data, samples=120, random_samples=40
    )
    assert report.passed
    real, random, step = report.checks
    assert (real.name, real.samples, random.name, random.samples) == ("real reviews", 120, "random tokens", 40)
    assert (step.name, step.samples) == ("step vs sequence", 8) and step.max_abs_error <= 1e-5
    assert real.max_abs_error <= 1e-5 and real.decision_agreement == 1.0
    assert real.metric == "accuracy" and real.reference_metric == real.converted_metric
    assert 0.0 <= real.mean_abs_error <= real.max_abs_error
    assert report.tolerance.atol == 1e-5
    data = json.loads(json.dumps(report.to_dict()))
    assert (
        data["passed"] is True and data["version"] == 1 and data["environment"]["runtime"].startswith("ai-edge-litert")
    )


def test_a_perturbed_model_fails(tiny_run, tmp_path, shared_data):
    import keras

    from rnnx.exporter.export import ExportOptions, export_model

    model = keras.models.load_model(tiny_run / "model.keras")
    kernel = model.get_layer("gru_2").cell.kernel
    kernel.assign(kernel.numpy() + 0.05)
    model.save(tmp_path / "model.keras")
    for name in ("tokenizer.json", "task.json"):
        (tmp_path / name).write_bytes((tiny_run / name).read_bytes())
    export_model(tmp_path / "model.keras", tmp_path / "perturbed.tflite", ExportOptions(isolate=False))
    report = verify_model(
        tiny_run / "model.keras", tmp_path / "perturbed.tflite", data=shared_data, samples=60, random_samples=20
    )
    assert not report.passed
    real, random, step = report.checks
    assert real.max_abs_error > 1e-4 and random.max_abs_error > 1e-4
    assert not real.passed and not random.passed
    assert step.passed  # the file agrees with itself: step and whole sequence are both the perturbed model


def test_compare_known_answers():
    reference = [np.array([[0.2], [0.6], [0.9]])]
    converted = [np.array([[0.2], [0.4], [0.9]])]
    check = compare("toy", reference, converted, Tolerance(0.1, 0.0, "test"), labels=np.array([0, 1, 1]), threshold=0.5)
    assert check.max_abs_error == pytest.approx(0.2)
    assert check.mean_abs_error == pytest.approx(0.2 / 3)
    assert check.worst_row == 1
    assert check.decision_agreement == pytest.approx(2 / 3)
    assert (
        check.metric == "accuracy" and check.reference_metric == 1.0 and check.converted_metric == pytest.approx(2 / 3)
    )
    assert not check.passed
    assert check.smallest_atol == pytest.approx(0.2)
    same = compare("same", reference, reference, Tolerance(0.0, 0.0, "test"), threshold=0.5)
    assert same.passed and same.max_abs_error == 0.0
    relative = compare("relative", [np.array([[100.0]])], [np.array([[100.001]])], Tolerance(1e-6, 1e-5, "test"))
    assert relative.passed and relative.smallest_atol == pytest.approx(0.0, abs=1e-12)  # 1e-3 <= 1e-6 + 1e-5 * 100
    strict = compare("strict", [np.array([[100.0]])], [np.array([[100.001]])], Tolerance(1e-6, 0.0, "test"))
    assert not strict.passed and strict.smallest_atol == pytest.approx(1e-3)


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
