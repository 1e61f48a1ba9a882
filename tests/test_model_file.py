import json

import pytest

from rnnx.exporter.errors import InputFileError
from rnnx.exporter.runtime.metadata import METADATA_NAME, ModelMetadata
from rnnx.exporter.runtime.model_file import op_census, read_metadata, with_metadata

from builders import run_tflite


def test_metadata_round_trip_keeps_the_model_working(tiny_exports):
    import numpy as np

    data = tiny_exports["loop"].read_bytes()
    before = run_tflite(data, {"token_ids": np.arange(24, dtype=np.int32).reshape(1, 24)})
    amended = with_metadata(data, "notes", b"\x00binary\xffpayload")
    amended = with_metadata(amended, "notes", b"replaced")
    entries = read_metadata(amended)
    assert entries["notes"] == b"replaced"
    assert METADATA_NAME in entries and entries[METADATA_NAME] == read_metadata(data)[METADATA_NAME]
    assert op_census(amended) == op_census(data)
    after = run_tflite(amended, {"token_ids": np.arange(24, dtype=np.int32).reshape(1, 24)})
    assert after["probability"].tolist() == before["probability"].tolist()


def test_embedded_metadata_describes_the_export(tiny_run, tiny_exports):
    from rnnx.exporter.loading import file_sha256
    from rnnx.models.text.tokenizer import WordTokenizer

    meta = ModelMetadata.from_bytes(read_metadata(tiny_exports["unrolled"].read_bytes())[METADATA_NAME])
    assert meta.task == {
        "kind": "binary_classification",
        "labels": ["negative", "positive"],
        "threshold": 0.5,
        "output": "probability",
    }
    assert meta.inputs == [{"name": "token_ids", "dtype": "int32", "shape": [1, 24], "kind": "token_ids"}]
    assert meta.outputs == [{"name": "probability", "dtype": "float32", "shape": [1, 1], "quantization": None}]
    assert meta.tokenizer == WordTokenizer.load(tiny_run / "tokenizer.json").to_dict()
    assert meta.provenance["source_sha256"] == file_sha256(tiny_run / "model.keras")
    assert {layer["lowering"] for layer in meta.lowering["layers"]} == {"unrolled"}
    assert [layer["name"] for layer in meta.lowering["layers"]] == ["gru_1", "gru_2", "gru_3"]
    assert meta.op_census == op_census(tiny_exports["unrolled"].read_bytes())
    assert meta.provenance["tensorflow"][0].isdigit() and meta.provenance["keras"].startswith("3.")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a .tflite model"),
        (b"PK\x03\x04 this is a zip", "not a .tflite model"),
        (b"\x18\x00\x00\x00TFL3" + b"\xff" * 40, "corrupt"),
    ],
)
def test_corrupt_bytes_are_one_line_errors(data, message):
    with pytest.raises(InputFileError, match=message):
        op_census(data, "x.tflite")


def test_truncated_model_is_an_error(tiny_exports):
    data = tiny_exports["loop"].read_bytes()
    with pytest.raises(InputFileError):
        read_metadata(data[: len(data) // 3], "cut.tflite")


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not json", "not valid JSON"),
        (json.dumps({"format": "other"}).encode(), "not rnnx metadata"),
        (json.dumps({"format": "rnnx.metadata", "version": 2}).encode(), "version 2 is not supported"),
        (json.dumps({"format": "rnnx.metadata", "version": 1}).encode(), "lacks the field"),
    ],
)
def test_metadata_validation(payload, message):
    with pytest.raises(InputFileError, match=message):
        ModelMetadata.from_bytes(payload, "m.tflite")
