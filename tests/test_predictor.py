import numpy as np
import pytest

from rnnx.exporter.errors import InputFileError, InvalidInputError
from rnnx.exporter.runtime.predictor import Predictor


@pytest.mark.parametrize("lowering", ["loop", "unrolled"])
def test_classify_matches_keras_on_real_reviews(tiny_run, tiny_exports, imdb_test, lowering):
    import keras

    from rnnx.models.text.tokenizer import WordTokenizer

    reviews = imdb_test.head(64)
    predictor = Predictor(tiny_exports[lowering])
    results = predictor.classify(reviews.texts)
    ids = WordTokenizer.load(tiny_run / "tokenizer.json").encode(reviews.texts)
    expected = keras.models.load_model(tiny_run / "model.keras").predict(ids, verbose=0)[:, 0]
    got = np.array([r.probability for r in results])
    assert np.abs(got - expected).max() <= 1e-5
    assert [r.label for r in results] == ["positive" if p >= 0.5 else "negative" for p in expected]
    assert {r.label_index for r in results} <= {0, 1}


def test_same_input_twice_gives_identical_results(tiny_exports, imdb_test):
    predictor = Predictor(tiny_exports["loop"])
    texts = imdb_test.head(5).texts
    first = [r.probability for r in predictor.classify(texts)]
    second = [r.probability for r in predictor.classify(texts[::-1])][::-1]
    assert first == second


def test_batches_are_padded_and_trimmed(tiny_run, tiny_exports, imdb_test, tmp_path):
    from rnnx.exporter.export import ExportOptions, export_model

    out = tmp_path / "batch3.tflite"
    export_model(tiny_run / "model.keras", out, ExportOptions(batch_size=3, isolate=False))
    batched, single = Predictor(out), Predictor(tiny_exports["loop"])
    assert (batched.batch_size, single.batch_size) == (3, 1)
    ids = batched.encode(imdb_test.head(7).texts)
    got = batched.predict_ids(ids)
    assert got.shape == (7, 1)
    assert np.abs(got - single.predict_ids(ids)).max() <= 1e-6


def test_wrong_inputs_are_clear_errors(tiny_exports):
    predictor = Predictor(tiny_exports["loop"])
    with pytest.raises(InvalidInputError, match=r"input 2 is an empty text"):
        predictor.classify(["fine", "   "])
    with pytest.raises(InvalidInputError, match=r"must have shape \[n, 24\], got \[2, 5\]"):
        predictor.predict_ids(np.zeros((2, 5), np.int32))
    with pytest.raises(InvalidInputError, match=r"'token_ids' must have shape \[1, 24\] \(int32\), got \[24\]"):
        predictor.run({"token_ids": np.zeros(24, np.int32)})
    with pytest.raises(InvalidInputError, match="missing input 'token_ids'"):
        predictor.run({})


def test_files_without_rnnx_metadata_or_broken_are_refused(tiny_run, tmp_path):
    import keras

    from rnnx.exporter.export import convert_model
    from rnnx.exporter.planning import plan_export

    bare = tmp_path / "bare.tflite"
    model = keras.models.load_model(tiny_run / "model.keras")
    bare.write_bytes(convert_model(model, plan_export(model)))
    with pytest.raises(InputFileError, match="carries no rnnx metadata"):
        Predictor(bare)
    with pytest.raises(InputFileError, match="does not exist"):
        Predictor(tmp_path / "missing.tflite")
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(InputFileError, match="is empty"):
        Predictor(tmp_path / "empty.tflite")
    with pytest.raises(InputFileError, match="is a folder"):
        Predictor(tmp_path)
