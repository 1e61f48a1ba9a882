import os
import sys
import textwrap

import numpy as np
import pytest

from rnnx.exporter.errors import ConversionError, InputFileError, UnsupportedModelError
from rnnx.exporter.export import ExportOptions, explain_export, export_model
from rnnx.exporter.lowering import Lowering
from rnnx.exporter.quantization import Quantization
from rnnx.exporter.runtime.predictor import Predictor


def test_isolated_export_equals_in_process_export(tiny_run, tiny_exports, tmp_path):
    out = tmp_path / "isolated.tflite"
    result = export_model(tiny_run / "model.keras", out, ExportOptions(lowering=Lowering.LOOP, isolate=True))
    assert result.size_bytes == out.stat().st_size
    assert result.op_census == Predictor(tiny_exports["loop"]).metadata.op_census
    assert result.op_census["WHILE"] == 3
    ids = Predictor(out).encode(["an excellent film", "dull and bad"])
    assert Predictor(out).predict_ids(ids).tolist() == Predictor(tiny_exports["loop"]).predict_ids(ids).tolist()


def test_explain_converts_nothing(tiny_run, tmp_path):
    plan = explain_export(
        tiny_run / "model.keras", ExportOptions(lowering=Lowering.UNROLLED, layer_lowerings={"gru_2": Lowering.LOOP})
    )
    assert [(layer.name, layer.lowering.value, layer.reason) for layer in plan.layers] == [
        ("gru_1", "unrolled", "--lowering unrolled"),
        ("gru_2", "loop", "per-layer override"),
        ("gru_3", "unrolled", "--lowering unrolled"),
    ]
    assert plan.inputs[0].shape == (1, 24)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_leaves_the_old_file_and_no_partial_file(tiny_run, tmp_path, monkeypatch):
    import rnnx.exporter.export as export

    out = tmp_path / "model.tflite"
    out.write_bytes(b"previous version")

    def broken(*args, **kwargs):
        raise ConversionError("simulated converter failure")

    monkeypatch.setattr(export, "convert_model", broken)
    with pytest.raises(ConversionError, match="simulated"):
        export_model(tiny_run / "model.keras", out, ExportOptions(isolate=False))
    assert out.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_a_converter_crash_becomes_an_error(tiny_run, tmp_path, monkeypatch):
    """The child process dies from SIGSEGV as the converter would; rnnx reports it and writes nothing."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os, signal, sys
            if "rnnx.exporter.conversion_worker" in sys.orig_argv:
                os.kill(os.getpid(), signal.SIGSEGV)
            """
        )
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), *sys.path]))
    out = tmp_path / "never.tflite"
    with pytest.raises(ConversionError, match=r"crashed \(SIGSEGV\).*not written"):
        export_model(tiny_run / "model.keras", out, ExportOptions(isolate=True))
    assert not out.exists()
    # the same during quantization (where the converter's real crashes happen): named, and nothing written
    rows = tmp_path / "rows.npy"
    np.save(rows, np.ones((4, 24), np.int32))
    quantized = ExportOptions(isolate=True, quantize=Quantization.INT8, representative_data=rows)
    with pytest.raises(ConversionError, match=r"crashed \(SIGSEGV\).* with --quantize int8; the model was not written"):
        export_model(tiny_run / "model.keras", out, quantized)
    assert not out.exists()


def test_bad_sources_and_outputs(tiny_run, tmp_path):
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip archive")
    with pytest.raises(InputFileError, match="not a .keras archive"):
        export_model(corrupt, tmp_path / "x.tflite")
    with pytest.raises(InputFileError, match="does not exist"):
        export_model(tmp_path / "missing.keras", tmp_path / "x.tflite")
    with pytest.raises(InputFileError, match="output folder .* does not exist"):
        export_model(tiny_run / "model.keras", tmp_path / "no" / "x.tflite")
    saved_model = tmp_path / "sm"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_bytes(b"")
    with pytest.raises(UnsupportedModelError, match="is a SavedModel"):
        export_model(saved_model, tmp_path / "x.tflite")
    with pytest.raises(InputFileError, match="exactly two labels"):
        export_model(tiny_run / "model.keras", tmp_path / "x.tflite", ExportOptions(labels=("only",), isolate=False))


def test_legacy_h5_models_export(tiny_run, tmp_path, imdb_test):
    import keras
    import numpy as np

    model = keras.models.load_model(tiny_run / "model.keras")
    model.save(tmp_path / "model.h5")
    (tmp_path / "tokenizer.json").write_bytes((tiny_run / "tokenizer.json").read_bytes())
    out = tmp_path / "from_h5.tflite"
    export_model(tmp_path / "model.h5", out, ExportOptions(labels=("neg", "pos"), isolate=False))
    predictor = Predictor(out)
    ids = predictor.encode(imdb_test.head(8).texts)
    assert np.abs(predictor.predict_ids(ids) - model.predict(ids, verbose=0)).max() <= 1e-5
    assert predictor.metadata.task["labels"] == ["neg", "pos"]
