"""Shared fixtures: real data from ../shared/data and tiny trained models built once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RNNX_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
TINY_T = 24


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "imdb_test.jsonl.gz").is_file():
        pytest.fail(f"the shared datasets are missing at {SHARED_DATA}; set RNNX_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def imdb_test(shared_data):
    from rnnx.models.data.imdb import read_jsonl

    return read_jsonl(shared_data / "imdb_test.jsonl.gz").shuffled(7)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, imdb_test) -> Path:
    """A folder like `rnnx train sentiment` writes: a tiny GRU model trained briefly on 400 real reviews."""
    import keras

    from rnnx.models.text.tokenizer import WordTokenizer
    from rnnx.models.zoo.sentiment import SentimentSpec, build_sentiment_model, compile_sentiment_model

    folder = tmp_path_factory.mktemp("tiny_run")
    keras.utils.set_random_seed(3)
    train = imdb_test.head(400)
    tokenizer = WordTokenizer.fit(train.texts, num_words=300, max_tokens=TINY_T)
    model = build_sentiment_model(SentimentSpec(max_tokens=TINY_T, units=(6, 5, 4), num_words=300, embedding_dim=4))
    compile_sentiment_model(model, learning_rate=1e-2)
    model.fit(tokenizer.encode(train.texts), train.labels.astype(np.float32), epochs=2, batch_size=32, verbose=0)
    model.save(folder / "model.keras")
    tokenizer.save(folder / "tokenizer.json")
    (folder / "task.json").write_text(
        json.dumps(
            {
                "kind": "binary_classification",
                "labels": ["negative", "positive"],
                "threshold": 0.5,
                "output": "probability",
            }
        )
    )
    return folder


@pytest.fixture(scope="session")
def tiny_exports(tiny_run) -> dict[str, Path]:
    """The tiny GRU model exported in-process with each lowering that applies to a GRU."""
    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.lowering import Lowering

    paths = {}
    for lowering in (Lowering.LOOP, Lowering.UNROLLED):
        out = tiny_run / f"model.{lowering.value}.tflite"
        export_model(tiny_run / "model.keras", out, ExportOptions(lowering=lowering, isolate=False))
        paths[lowering.value] = out
    return paths
