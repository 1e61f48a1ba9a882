"""Every quantization mode of trained sentiment models: file size, latency, error and test accuracy.

For each trained model (``rnnx train sentiment`` output: ``model.keras`` with ``tokenizer.json``
beside it) every ``--quantize`` mode is exported with ``rnnx.exporter.export_model`` (calibrated
on IMDB training reviews, the default) and run with the device predictor on ``--reviews`` IMDB
test reviews (a seeded shuffle of the 25,000):

* size: the whole ``.tflite`` file, metadata (vocabulary and all) included, and its ratio to the
  float32 file;
* latency: median milliseconds per review (batch 1, one thread, XNNPACK on), measured
  round-robin over the modes on the same ``--latency-reviews`` reviews, with the ratio to float32;
* error against the float Keras model: largest and 99th-percentile ``|p_tflite − p_keras|``, and the
  share of reviews whose decision (p ≥ 0.5) agrees;
* task metric: test accuracy of the Keras model and of the file, and the difference in points.

A mode the exporter refuses is printed with its reason.

``--candidates`` also measures the integer forms rnnx considered for recurrent layers that are
not fused LSTMs (issue 6): the converter's own int8 calibration of the ``WHILE`` loop and of the
unrolled graph, at ``--candidate-steps`` time steps (the trained weights in a shorter model, so
that the unrolled graph stays small enough to convert), each in a child process so that a
converter crash is recorded rather than fatal.

Usage:
    python benchmarks/quantization.py runs/gru-full-mask/model.keras runs/lstm-full/model.keras \\
        --data ../shared/data --reviews 5000 [--candidates]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MODES = ("none", "float16", "dynamic", "int8", "int16x8")


def export_modes(source: Path, folder: Path, data: str) -> dict[str, Path | str]:
    """Each mode exported to ``folder`` (its path), or the exporter's refusal (a string)."""
    from rnnx.exporter.errors import RnnxError
    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.quantization import Quantization

    files: dict[str, Path | str] = {}
    for mode in MODES:
        path = folder / f"{source.parent.name}-{mode}.tflite"
        started = time.perf_counter()
        try:
            export_model(source, path, ExportOptions(quantize=Quantization(mode), data=data))
            files[mode] = path
            print(f"  exported {mode:<8} in {time.perf_counter() - started:5.1f} s", flush=True)
        except RnnxError as err:
            files[mode] = f"refused: {err}"
    return files


def latencies(predictors: dict, ids: np.ndarray, rounds: int = 3) -> dict[str, float]:
    """Median seconds per review, interleaving the predictors review by review."""
    for predictor in predictors.values():
        predictor.predict_ids(ids[:1])
    samples: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(rounds):
        for row in ids:
            for name, predictor in predictors.items():
                start = time.perf_counter()
                predictor.predict_ids(row[None])
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def candidates(source: Path, steps: int, data: str) -> None:
    """The converter's own int8 for the ``WHILE`` loop and the unrolled graph, against the stepped form."""
    import keras

    from rnnx.exporter.errors import RnnxError
    from rnnx.exporter.export import _convert_isolated, load_tokenizer
    from rnnx.exporter.loading import load_keras_model
    from rnnx.exporter.planning import plan_export
    from rnnx.exporter.quantization import (
        SEQUENCE_FORM,
        Quantization,
        QuantizationPlan,
        plan_quantization,
        representative_sequences,
    )
    from rnnx.models.zoo.sentiment import SentimentSpec, build_sentiment_model

    trained = load_keras_model(source)
    tokenizer = load_tokenizer(None, source)
    recurrent = [layer for layer in trained.layers if isinstance(layer, keras.layers.RNN)]
    spec = SentimentSpec(
        max_tokens=steps,
        cell=type(recurrent[0].cell).__name__.replace("Cell", "").lower().replace("simplernn", "rnn"),
        units=tuple(layer.cell.units for layer in recurrent),
        num_words=trained.layers[0].input_dim,
        embedding_dim=trained.layers[0].output_dim,
        mask_padding=bool(trained.layers[0].mask_zero),
    )
    short = build_sentiment_model(spec)
    short.set_weights(trained.get_weights())
    tokenizer.max_tokens = steps
    test_ids = np.random.default_rng(1).integers(1, spec.num_words, size=(50, steps)).astype(np.int32)
    expected = short.predict(test_ids, verbose=0).reshape(-1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "short.keras"
        short.save(path)
        print(f"\ncandidate integer forms, {spec.cell.upper()} weights of {source}, T={steps}:")
        print(f"{'form':<34} {'float32 KB':>11} {'int8 KB':>9} {'ratio':>6}  max|err| (50 random rows)")
        for lowering in ("loop", "unrolled", "stepped"):
            plan = plan_export(short, lowering, batch_size=1)
            try:
                if lowering == "stepped":
                    plan, qplan = plan_quantization(short, plan_export(short, "loop", batch_size=1), "int8")
                else:
                    qplan = QuantizationPlan(Quantization.INT8, SEQUENCE_FORM, "benchmark: the converter's own")
                rows, _ = representative_sequences(None, data, tokenizer, plan, 50)
                floats = _convert_isolated(
                    path, plan, 1800, QuantizationPlan(Quantization.NONE, qplan.form, "float"), None, False
                )
                ints = _convert_isolated(path, plan, 1800, qplan, rows, False)
            except RnnxError as err:
                print(f"{'converter int8, ' + lowering:<34} {str(err)[:100]}")
                continue
            error = _candidate_error(ints, qplan.form, test_ids, expected)
            name = "rnnx stepped" if lowering == "stepped" else f"converter int8, {lowering}"
            print(
                f"{name:<34} {len(floats) / 1024:11.1f} {len(ints) / 1024:9.1f} "
                f"{len(ints) / len(floats):6.2f}  {error:.3f}"
            )


def _candidate_error(model_bytes: bytes, form: str, ids: np.ndarray, expected: np.ndarray) -> float:
    """Largest error of a metadata-less converted file, run with the interpreter directly."""
    from ai_edge_litert.interpreter import Interpreter

    from rnnx.exporter.runtime.quantized_io import from_output, to_input

    interpreter = Interpreter(model_content=model_bytes, num_threads=1)
    key = "step" if form == "stepped" else "serving_default"
    runner = interpreter.get_signature_runner(key)
    inputs, outputs = runner.get_input_details(), runner.get_output_details()
    got = []
    for row in ids:
        if form != "stepped":
            name = next(iter(inputs))
            out = runner(**{name: to_input(row[None], inputs[name])})
            got.append(float(from_output(out["probability"], outputs["probability"]).reshape(-1)[-1]))
            continue
        token = next(n for n in inputs if inputs[n]["dtype"] == np.int32)
        states = {n: np.zeros(d["shape"], np.float32) for n, d in inputs.items() if n != token}
        for value in row:
            feed = {token: np.array([[value]], np.int32), **{n: to_input(v, inputs[n]) for n, v in states.items()}}
            out = runner(**feed)
            states = {n: from_output(out[n + "_out"], outputs[n + "_out"]) for n in states}
        got.append(float(from_output(out["probability"], outputs["probability"]).reshape(-1)[-1]))
    return float(np.abs(np.array(got) - expected).max())


def main() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", type=Path, help="trained model.keras files")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--reviews", type=int, default=5000)
    parser.add_argument("--latency-reviews", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", action="store_true")
    parser.add_argument("--candidate-steps", type=int, default=50)
    args = parser.parse_args()

    from rnnx.exporter.export import load_tokenizer
    from rnnx.exporter.loading import load_keras_model
    from rnnx.exporter.runtime.predictor import Predictor
    from rnnx.models.data.imdb import find_imdb, load_imdb

    reviews = load_imdb(find_imdb(args.data), "test").shuffled(args.seed).head(args.reviews)
    for source in args.models:
        model = load_keras_model(source)
        ids = load_tokenizer(None, source).encode(reviews.texts)
        started = time.perf_counter()
        reference = model.predict(ids, batch_size=256, verbose=0).reshape(-1)
        keras_accuracy = float(((reference >= 0.5) == reviews.labels).mean())
        print(f"{source}: Keras on {len(ids)} test reviews in {time.perf_counter() - started:.0f} s", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            files = export_modes(source, Path(folder), args.data)
            predictors = {mode: Predictor(path) for mode, path in files.items() if not isinstance(path, str)}
            rows = {}
            for mode, predictor in predictors.items():
                started = time.perf_counter()
                got = predictor.predict_ids(ids).reshape(-1)
                error = np.abs(got - reference)
                rows[mode] = {
                    "form": (predictor.metadata.quantization or {}).get("form", "sequence"),
                    "size": files[mode].stat().st_size,
                    "max": float(error.max()),
                    "p99": float(np.percentile(error, 99)),
                    "agree": float(((got >= 0.5) == (reference >= 0.5)).mean()),
                    "accuracy": float(((got >= 0.5) == reviews.labels).mean()),
                }
                print(f"  ran {mode:<8} on {len(ids)} reviews in {time.perf_counter() - started:5.1f} s", flush=True)
            medians = latencies(predictors, ids[: args.latency_reviews])
        base = rows["none"]
        print(
            f"\n{source}: {len(ids)} IMDB test reviews (seed {args.seed}); Keras accuracy {keras_accuracy:.2%}; "
            f"latency: median of {3 * args.latency_reviews} single-review runs, 1 thread"
        )
        print(
            f"{'mode':<8} {'form':<9} {'bytes':>9} {'size':>6} {'ms':>8} {'time':>6} "
            f"{'max err':>8} {'p99 err':>8} {'agree':>7} {'accuracy':>9} {'Δ pts':>6}"
        )
        for mode in MODES:
            if isinstance(files[mode], str):
                print(f"{mode:<8} {files[mode][:110]}")
                continue
            row = rows[mode]
            print(
                f"{mode:<8} {row['form']:<9} {row['size']:>9,} {row['size'] / base['size']:5.2f}x "
                f"{medians[mode] * 1e3:8.2f} {medians[mode] / medians['none']:5.2f}x "
                f"{row['max']:8.4f} {row['p99']:8.4f} {row['agree']:7.2%} {row['accuracy']:9.2%} "
                f"{(row['accuracy'] - keras_accuracy) * 100:+6.2f}"
            )
        if args.candidates:
            candidates(source, args.candidate_steps, args.data)


if __name__ == "__main__":
    main()
