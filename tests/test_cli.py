"""Every command through the CLI, with its exit code and its one-line errors."""

import json

import pytest
from typer.testing import CliRunner

from rnnx.exporter.cli import app

runner = CliRunner()


def invoke(*args, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output, result.output
    return result


def error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "export", "verify", "infer", "inspect"):
        assert command in result.output


def test_export_prints_census_and_writes_the_file(tiny_run, tmp_path):
    out = tmp_path / "cli.tflite"
    result = invoke("export", tiny_run / "model.keras", "-o", out, "--lowering", "unrolled", "--in-process")
    assert result.exit_code == 0, result.output
    assert "op census matches the plan" in result.output and "UNPACK" in result.output
    assert out.stat().st_size > 0


def test_export_explain_and_json(tiny_run, tmp_path):
    result = invoke(
        "export",
        tiny_run / "model.keras",
        "-o",
        tmp_path / "no.tflite",
        "--explain",
        "--layer-lowering",
        "gru_3=unrolled",
    )
    assert result.exit_code == 0
    assert "nothing converted" in result.output and "per-layer override" in result.output
    assert not (tmp_path / "no.tflite").exists()
    result = invoke("export", tiny_run / "model.keras", "--explain", "--json")
    plan = json.loads(result.output)
    assert [layer["lowering"] for layer in plan["layers"]] == ["unrolled", "unrolled", "unrolled"]
    assert plan["layers"][0]["reason"] == "auto: fastest exact form for GRU"
    assert plan["requested"] == "auto"


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "{tmp}/missing.keras"], "does not exist"),
        (["export", "{tmp}/corrupt.keras"], "not a .keras archive"),
        (["export", "{run}/model.keras", "--layer-lowering", "gru_1"], "LAYER=LOWERING"),
        (["export", "{run}/model.keras", "--layer-lowering", "dense=loop"], "names no recurrent layer: dense"),
        (["export", "{run}/model.keras", "-o", "{tmp}/nowhere/x.tflite"], "does not exist"),
        (
            ["export", "{run}/model.keras", "--lowering", "fused"],
            "`gru_1` (GRU) cannot be lowered as fused: LiteRT has no fused GRU op",
        ),
        (
            ["export", "{run}/model.keras", "--explain", "--layer-lowering", "gru_2=fused"],
            "`gru_2` (GRU) cannot be lowered as fused",
        ),
        (["verify", "{run}/model.loop.tflite", "{run}/model.keras"], "the two files are swapped"),
        (["export", "{run}/model.keras", "--tokenizer", "{tmp}/corrupt.keras"], "not a usable rnnx tokenizer"),
        (["inspect", "{tmp}/corrupt.keras"], "not a .tflite model"),
        (["infer", "{tmp}/missing.tflite", "--text", "x"], "does not exist"),
        (["verify", "{tmp}/missing.keras", "{run}/model.loop.tflite"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tiny_run, tiny_exports, tmp_path, args, message):
    (tmp_path / "corrupt.keras").write_bytes(b"\x00garbage")
    result = invoke(*[a.format(tmp=tmp_path, run=tiny_run) for a in args])
    assert result.exit_code == 2, result.output
    assert message in error_line(result)


def test_unknown_option_is_a_usage_error():
    result = invoke("export", "--lowering", "sideways", "m.keras")
    assert result.exit_code == 2
    assert "sideways" in result.output


def test_inspect_shows_signatures_and_metadata(tiny_exports):
    result = invoke("inspect", tiny_exports["loop"])
    assert result.exit_code == 0
    assert "serving_default" in result.output and "token_ids" in result.output and "WHILE" in result.output
    assert "labels ['negative', 'positive']" in result.output and "max_tokens 24" in result.output
    data = json.loads(invoke("inspect", tiny_exports["loop"], "--json").output)
    assert data["rnnx"]["tokenizer"]["vocabulary_size"] == 298
    assert data["signatures"]["serving_default"]["inputs"] == [
        {"name": "token_ids", "dtype": "int32", "shape": [1, 24], "quantization": None}
    ]
    assert data["op_census"]["WHILE"] == 3
    assert data["tensor_types"]["FLOAT32"]["constants"] > 0 and "INT8" not in data["tensor_types"]
    assert sorted(data["metadata_entries"]) == data["metadata_entries"] and "rnnx" in data["metadata_entries"]


def test_infer_text_file_stdin_and_json(tiny_exports, tmp_path):
    model = tiny_exports["unrolled"]
    result = invoke("infer", model, "--text", "A wonderful, moving film.", "-t", "Awful. A waste of time.")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].split()[1] in ("positive", "negative")
    (tmp_path / "in.jsonl").write_text('{"text": "great acting"}\nplain line of text\n\n')
    rows = json.loads(invoke("infer", model, "--input", tmp_path / "in.jsonl", "--json").output)["predictions"]
    assert [r["text"] for r in rows] == ["great acting", "plain line of text"]
    assert all(0.0 <= r["probability"] <= 1.0 for r in rows)
    piped = json.loads(invoke("infer", model, "--json", input="great acting\n").output)["predictions"]
    assert piped[0]["probability"] == rows[0]["probability"]


def test_infer_errors(tiny_exports, tmp_path):
    model = tiny_exports["loop"]
    assert "empty text" in error_line(invoke("infer", model, "--text", " "))
    (tmp_path / "bad.jsonl").write_text('{"label": 1}\n')
    assert "needs a string 'text'" in error_line(invoke("infer", model, "--input", tmp_path / "bad.jsonl"))


def test_verify_exit_codes(tiny_run, tiny_exports, shared_data, tmp_path):
    ok = invoke(
        "verify", tiny_run / "model.keras", tiny_exports["loop"], "--data", shared_data, "--samples", 40, "--random", 10
    )
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.output and "real reviews" in ok.output
    strict = invoke(
        "verify",
        tiny_run / "model.keras",
        tiny_exports["loop"],
        "--data",
        shared_data,
        "--samples",
        40,
        "--random",
        10,
        "--atol",
        "0",
        "--rtol",
        "0",
        "--json",
    )
    report = json.loads(strict.output)
    # float32 arithmetic in another order: exactly zero error is not what the converter gives
    assert strict.exit_code == (0 if report["checks"][0]["max_abs_error"] == 0 else 1)
    assert report["tolerance"]["source"] == "command line"
    nothing = invoke("verify", tiny_run / "model.keras", tiny_exports["loop"], "--samples", 0, "--random", 0)
    assert nothing.exit_code == 2 and "nothing to verify" in error_line(nothing)


def test_train_writes_everything_and_says_which_device(shared_data, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "train",
        "sentiment",
        "--data",
        shared_data,
        "--output",
        out,
        "--max-samples",
        120,
        "--test-samples",
        40,
        "--epochs",
        1,
        "--max-tokens",
        16,
        "--units",
        "4,3",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert "device: CPU" in result.output or "device: GPU" in result.output
    for name in ("model.keras", "tokenizer.json", "task.json", "metrics.json", "training_curve.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == {"source": str(shared_data), "train": 108, "validation": 12, "test": 40}
    assert metrics["epochs_run"] == 1 and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["config"]["max_tokens"] == 16 and metrics["config"]["units"] == [4, 3]
    assert [v["layer"] for v in metrics["cudnn"]] == ["gru_1", "gru_2"]  # the report, per layer
    assert "cuDNN: gru_1 (GRU): " in result.output
    assert (out / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoints" / "last.keras").is_file() and any((out / "logs").rglob("events.out.tfevents.*"))
    common = ["--data", shared_data, "--output", out, "--max-samples", 120, "--test-samples", 40]
    more = invoke("train", "sentiment", *common, "--max-tokens", 16, "--units", "4,3", "--epochs", 2, "--resume")
    assert more.exit_code == 0, more.output
    assert "resuming after epoch 1" in more.output
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["epochs_run"] == 2 and resumed["history"]["loss"][0] == metrics["history"]["loss"][0]
    bad = invoke("train", "sentiment", "--data", tmp_path / "nothing-here", "--output", out)
    assert bad.exit_code == 2 and "does not exist" in error_line(bad)
