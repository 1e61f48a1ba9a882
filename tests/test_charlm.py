"""Character language model: text preparation, minibatches, training, export, generation on the device."""

import json

import numpy as np
import pytest

from rnnx.models.data.corpus import find_corpus, random_batches, read_text, sequential_batches, split_corpus
from rnnx.models.text.chars import CharTokenizer, normalize_chars


def test_normalisation_and_vocabulary_follow_the_book(shared_data):
    assert normalize_chars("The Time-Machine, by H. G. Wells [1898]\n\n  I.  ") == "the time machine by h g wells i"
    tokenizer = CharTokenizer.fit(read_text(shared_data / "timemachine.txt"), max_tokens=35)
    assert tokenizer.vocab_size == 28  # <unk>, space, a-z
    assert tokenizer.chars[:2] == [" ", "e"]
    ids = tokenizer.encode("Time 2 travel!")
    assert tokenizer.decode(ids) == "time travel"
    assert CharTokenizer.from_dict(json.loads(json.dumps(tokenizer.to_dict()))).chars == tokenizer.chars


def test_sequential_batches_continue_each_row():
    ids = np.arange(100)
    batches = list(sequential_batches(ids, 2, 5, np.random.default_rng(0)))
    assert all(x.shape == (2, 5) and y.shape == (2, 5) for x, y in batches)
    for x, y in batches:
        assert (y == x + 1).all()  # targets are the inputs shifted by one
    for row in range(2):
        joined = np.concatenate([x[row] for x, _ in batches])
        assert (np.diff(joined) == 1).all()  # a row continues where the previous batch stopped


def test_random_batches_cover_disjoint_windows():
    ids = np.arange(1000)
    batches = list(random_batches(ids, 4, 10, np.random.default_rng(1)))
    starts = [int(x[r, 0]) for x, _ in batches for r in range(4)]
    assert len(starts) == len(set(starts)) and len(batches) == 24
    assert all((y == x + 1).all() for x, y in batches)


def test_split_keeps_the_end_for_held_out():
    split = split_corpus(np.arange(1000), 0.1, max_tokens=300)
    assert split.train.tolist() == list(range(300)) and split.heldout.tolist() == list(range(900, 1000))


def test_find_corpus_errors_list_where_it_looked(tmp_path):
    from rnnx.exporter.errors import InputFileError

    with pytest.raises(InputFileError, match="looked at .*timemachine.txt"):
        find_corpus(tmp_path, "timemachine")


@pytest.fixture(scope="module")
def tiny_charlm(tmp_path_factory, shared_data):
    from rnnx.models.training.charlm import CharLMTrainConfig, train_charlm

    folder = tmp_path_factory.mktemp("charlm")
    config = CharLMTrainConfig(cell="lstm", num_hiddens=16, epochs=3, max_tokens=3000, num_steps=12, batch_size=8)
    result = train_charlm(config, shared_data / "timemachine.txt", folder, log=lambda *_: None)
    return folder, result


def test_training_lowers_perplexity_and_writes_everything(tiny_charlm):
    folder, result = tiny_charlm
    history = result.metrics["history"]["perplexity"]
    assert len(history) == 3 and history[-1] < history[0] < 30
    assert result.metrics["characters"]["train"] == 3000 and result.metrics["characters"]["vocabulary"] == 28
    assert result.metrics["sample"].startswith("time traveller ")
    for name in ("model.keras", "tokenizer.json", "task.json", "metrics.json", "training_curve.png"):
        assert (folder / name).stat().st_size > 0
    assert json.loads((folder / "task.json").read_text())["kind"] == "language_model"


def test_export_verify_and_generate_on_the_device(tiny_charlm, shared_data):
    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.runtime.predictor import Predictor
    from rnnx.exporter.verification import verify_model

    folder, _ = tiny_charlm
    out = folder / "charlm.tflite"
    result = export_model(folder / "model.keras", out, ExportOptions(isolate=False))
    assert result.plan.layers[0].layer_class == "RNN(ScratchLSTMCell)"
    assert result.op_census.get("UNIDIRECTIONAL_SEQUENCE_LSTM") == 1  # the hand-written LSTM, fused
    report = verify_model(folder / "model.keras", out, data=shared_data, samples=20, random_samples=10)
    assert report.passed, report.to_dict()
    held_out = report.checks[0]
    assert held_out.name == "held-out text" and held_out.metric == "perplexity"
    assert held_out.reference_metric == pytest.approx(held_out.converted_metric, rel=1e-4)
    assert [c.name for c in report.checks] == [
        "held-out text",
        "random tokens",
        "recurrent layers",
        "step vs sequence",
        "same input twice",
        "back to back",
        "stream reset",
    ]
    predictor = Predictor(out)
    first = predictor.generate("the time ", 40, temperature=0.8, seed=3)
    assert first.startswith("the time ") and len(first) == len("the time ") + 40
    assert predictor.generate("the time ", 40, temperature=0.8, seed=3) == first
    assert predictor.generate("the time ", 40, temperature=0.8, seed=4) != first
    greedy = predictor.generate("the time ", 10, temperature=0)
    assert greedy == predictor.generate("the time ", 10, temperature=0, seed=99)


def test_cli_generate_is_deterministic(tiny_charlm):
    from typer.testing import CliRunner

    from rnnx.exporter.cli import app

    folder, _ = tiny_charlm
    model = folder / "charlm.tflite"
    if not model.exists():
        from rnnx.exporter.export import ExportOptions, export_model

        export_model(folder / "model.keras", model, ExportOptions(isolate=False))
    runner = CliRunner()
    args = ["infer", str(model), "--generate", "the time ", "--length", "30", "--temperature", "0.8", "--seed", "0"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0 and first.output == second.output
    assert first.output.startswith("the time ") and len(first.output.strip()) == 39
    wrong = runner.invoke(app, ["infer", str(model), "--text", "a review"])
    assert wrong.exit_code == 2
    assert "carries no word tokenizer" in wrong.output or "is not a binary classifier" in wrong.output


def test_keras_layers_impl_trains_and_exports(tmp_path, shared_data):
    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.runtime.predictor import Predictor
    from rnnx.models.training.charlm import CharLMTrainConfig, train_charlm

    config = CharLMTrainConfig(
        cell="rnn",
        impl="keras",
        num_hiddens=12,
        epochs=2,
        max_tokens=2000,
        num_steps=10,
        batch_size=8,
        partitioning="random",
    )
    result = train_charlm(config, shared_data / "timemachine.txt", tmp_path, log=lambda *_: None)
    assert result.metrics["history"]["perplexity"][-1] < result.metrics["history"]["perplexity"][0]
    exported = export_model(tmp_path / "model.keras", tmp_path / "lm.tflite", ExportOptions(isolate=False))
    assert exported.plan.layers[0].layer_class == "SimpleRNN"
    assert exported.op_census.get("UNIDIRECTIONAL_SEQUENCE_RNN") == 1
    assert len(Predictor(tmp_path / "lm.tflite").generate("a", 5, temperature=0)) == 6


def test_cli_streams_a_language_model_character_by_character(tiny_charlm):
    from typer.testing import CliRunner

    from rnnx.exporter.cli import app

    folder, _ = tiny_charlm
    model = folder / "charlm.tflite"
    if not model.exists():
        from rnnx.exporter.export import ExportOptions, export_model

        export_model(folder / "model.keras", model, ExportOptions(isolate=False))
    result = CliRunner().invoke(app, ["infer", str(model), "--stream", "--json", "--text", "The Time"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert "".join(r["token"] for r in rows) == "the time"
    assert all(len(r["next"]) == 1 and 0.0 < r["probability"] <= 1.0 for r in rows)
