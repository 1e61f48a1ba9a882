"""The step signature: T steps from the zero state equal the whole sequence; streaming on the device."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from rnnx.exporter.cli import app  # noqa: E402
from rnnx.exporter.errors import InputFileError, InvalidInputError  # noqa: E402
from rnnx.exporter.export import ExportOptions, export_model  # noqa: E402
from rnnx.exporter.runtime.predictor import Predictor  # noqa: E402
from rnnx.models.text.tokenizer import WordTokenizer  # noqa: E402

LAYERS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN}
T = 16
TEXTS = ["a good film with a great cast", "a bad film and a dull plot", "great fun", "dull"]


def _save_and_export(tmp_path, model, tokenizer, lowering="auto") -> Predictor:
    model.save(tmp_path / "model.keras")
    tokenizer.save(tmp_path / "tokenizer.json")
    out = tmp_path / "model.tflite"
    options = ExportOptions(lowering=lowering, labels=("negative", "positive"), isolate=False)
    export_model(tmp_path / "model.keras", out, options)
    return Predictor(out)


def _word_model(cell: str, masked: bool):
    keras.utils.set_random_seed(21)
    inputs = keras.Input((T,), dtype="int32", name="token_ids")
    init = keras.initializers.RandomNormal(0.0, 1.0)
    x = keras.layers.Embedding(30, 6, mask_zero=masked, embeddings_initializer=init, name="embedding")(inputs)
    x = LAYERS[cell](7, return_sequences=True, name="first")(x)
    x = LAYERS[cell](5, name="second")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="probability")(x))
    tokenizer = WordTokenizer.fit(TEXTS, num_words=30, max_tokens=T, padding="post" if masked else "pre")
    return model, tokenizer


@pytest.mark.parametrize("lowering", ["auto", "loop"])
@pytest.mark.parametrize("masked", [True, False], ids=["masked-post", "plain-pre"])
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_steps_from_zero_state_equal_the_whole_sequence(tmp_path, cell, masked, lowering):
    model, tokenizer = _word_model(cell, masked)
    predictor = _save_and_export(tmp_path, model, tokenizer, lowering)
    states = predictor.metadata.step["states"]
    kinds = ["hidden", "cell"] if cell == "lstm" else ["hidden"]
    assert [(s["layer"], s["kind"]) for s in states] == [
        (layer, kind) for layer in ("first", "second") for kind in kinds
    ]
    stream = predictor.stream()
    for text in TEXTS:
        ids = tokenizer.encode([text])
        whole = predictor.predict_ids(ids)[0, 0]
        stream.reset()
        # A masked model skips padding, so its words alone reach the same state; a model without a
        # mask reads the padding too, so it is fed the whole padded sequence.
        feed = [t for t in ids[0] if t != 0] if masked else list(ids[0])
        for token in feed:
            last = stream.push_token(int(token))["probability"][0, 0]
        assert abs(last - whole) <= 1e-5, (text, last, whole)
        assert abs(whole - float(model.predict(ids, verbose=0)[0, 0])) <= 1e-5


def test_reset_state_and_slow_path(tmp_path, monkeypatch):
    from rnnx.exporter.runtime import streaming

    model, tokenizer = _word_model("lstm", True)
    predictor = _save_and_export(tmp_path, model, tokenizer)
    fast = predictor.stream()
    assert fast._fast
    first = [o["probability"].item() for _, o in fast.push_text("a good film")]
    assert set(fast.state) == {"first_hidden", "first_cell", "second_hidden", "second_cell"}
    assert any(np.abs(v).max() > 0 for v in fast.state.values())
    fast.reset()
    assert all(np.abs(v).max() == 0 for v in fast.state.values())
    assert [o["probability"].item() for _, o in fast.push_text("a good film")] == first
    monkeypatch.setattr(streaming.Stream, "_bind_views", lambda self: False)
    slow = predictor.stream()
    assert not slow._fast
    assert [o["probability"].item() for _, o in slow.push_text("a good film")] == pytest.approx(first, abs=1e-7)
    with pytest.raises(InvalidInputError, match=r"step input 'token_ids' must have shape \[1, 1\]"):
        slow.push({"token_ids": np.zeros((2, 2), np.int32)})
    with pytest.raises(InvalidInputError, match="missing step input 'token_ids'"):
        slow.push({})


def test_models_that_read_backwards_have_no_step_signature(tmp_path):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((T,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(30, 6)(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(4), name="both_ways")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="probability")(x))
    tokenizer = WordTokenizer.fit(TEXTS, num_words=30, max_tokens=T)
    predictor = _save_and_export(tmp_path, model, tokenizer)
    assert predictor.metadata.step["signature"] is None
    assert "both_ways" in predictor.metadata.step["reason"]
    with pytest.raises(InputFileError, match=r"has no step signature \(layer `both_ways` is Bidirectional"):
        predictor.stream()


def test_cli_stream_prints_the_running_prediction(tmp_path):
    model, tokenizer = _word_model("gru", True)
    predictor = _save_and_export(tmp_path, model, tokenizer)
    runner = CliRunner()
    result = runner.invoke(
        app, ["infer", str(tmp_path / "model.tflite"), "--stream", "--json", "--timing"], input="great fun\n\ndull\n"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [(r["sequence"], r["step"], r["token"]) for r in rows] == [(1, 1, "great"), (1, 2, "fun"), (2, 1, "dull")]
    assert rows[1]["probability"] == pytest.approx(predictor.classify(["great fun"])[0].probability, abs=1e-6)
    assert "µs per step" in result.output
