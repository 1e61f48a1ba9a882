"""Latency and size of every lowering of the seed model, against TensorFlow's own conversion.

For each cell (GRU, LSTM, SimpleRNN) the seed architecture (Embedding(10000, 8) → 16 → 8 → 4 →
Dense(1, sigmoid)) is built with fixed random weights at T time steps and converted:

* ``stock``: ``tf.lite.TFLiteConverter.from_keras_model`` on the Keras model (batch 1, builtin ops);
* each rnnx lowering: ``loop`` (with its output buffer, and with a TensorList for comparison),
  ``loop`` with a dynamic batch, ``unrolled``, ``fused`` (LSTM, SimpleRNN);
* reference: the Keras model as a ``tf.function``, and XLA-compiled (``jit_compile=True``).

Latency is the median of ``--runs`` invocations (batch 1, one thread) after warm-up, measured
round-robin across the variants so that machine noise hits them alike; ratios are computed within
this one run. Sizes are the converted flatbuffers without rnnx metadata.

Usage: python benchmarks/lowering_latency.py [--steps 256] [--runs 300] [--cells gru,lstm,rnn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def build(cell: str, steps: int):
    import keras

    from rnnx.models.zoo.sentiment import SentimentSpec, build_sentiment_model

    keras.utils.set_random_seed(0)
    model = build_sentiment_model(SentimentSpec(max_tokens=steps, cell=cell))
    model(np.zeros((1, steps), np.int32))
    return model


def stock_conversion(model, steps: int) -> bytes | str:
    """TensorFlow's own path: a batch-1 Keras model straight into the converter."""
    import keras
    import tensorflow as tf

    pinned = keras.Sequential([keras.Input((steps,), batch_size=1, dtype="int32"), *model.layers])
    converter = tf.lite.TFLiteConverter.from_keras_model(pinned)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return bytes(converter.convert())
    except Exception as err:  # report, do not stop the benchmark
        return f"fails: {str(err).strip().splitlines()[0][:80]}"


def rnnx_conversion(model, lowering: str, dynamic_batch: bool = False, store: str | None = None) -> bytes | str:
    from rnnx.exporter.errors import RnnxError
    from rnnx.exporter.export import convert_model
    from rnnx.exporter.lowering import loop
    from rnnx.exporter.planning import plan_export
    from rnnx.exporter.runtime.model_file import op_census

    defaults = loop.run_loop.__defaults__
    loop.run_loop.__defaults__ = (*defaults[:-1], store)  # benchmark-only: the loop's output store
    try:
        plan = plan_export(model, lowering, batch_size=None if dynamic_batch else 1)
        data = convert_model(model, plan)
        plan.check_census(op_census(data))
        return data
    except RnnxError as err:
        return f"refused: {err}"[:90]
    finally:
        loop.run_loop.__defaults__ = defaults


class TfliteRunner:
    def __init__(self, data: bytes, ids: np.ndarray):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=data, num_threads=1)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        if list(detail["shape"]) != list(ids.shape):
            self.interpreter.resize_tensor_input(detail["index"], ids.shape)
            self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(detail["index"], ids)
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self) -> float:
        self.interpreter.reset_all_variables()
        start = time.perf_counter()
        self.interpreter.invoke()
        return time.perf_counter() - start

    def result(self) -> np.ndarray:
        return self.interpreter.get_tensor(self.output)


class KerasRunner:
    def __init__(self, model, ids, jit: bool):
        import tensorflow as tf

        self.function = tf.function(lambda x: model(x, training=False), jit_compile=jit)
        self.ids = tf.constant(ids)
        self.function(self.ids)

    def __call__(self) -> float:
        start = time.perf_counter()
        self.function(self.ids).numpy()
        return time.perf_counter() - start


def measure(runners: dict, runs: int, chunk: int = 10) -> dict[str, float]:
    """Median seconds per call, interleaving the runners in chunks of ``chunk`` calls."""
    for runner in runners.values():
        for _ in range(20):
            runner()
    samples = {name: [] for name in runners}
    for _ in range(max(1, runs // chunk)):
        for name, runner in runners.items():
            samples[name].extend(runner() for _ in range(chunk))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--cells", default="gru,lstm,rnn")
    args = parser.parse_args()

    from rnnx.exporter.planning import plan_export

    ids = np.random.default_rng(0).integers(1, 10000, size=(1, args.steps)).astype(np.int32)
    print(f"seed model, T={args.steps}, batch 1, 1 thread, median of {args.runs} invocations")
    print(f"{'cell':<5} {'form':<22} {'size KB':>9} {'ms':>8} {'vs stock':>9} {'vs XLA':>8}  max|err|")
    for cell in args.cells.split(","):
        model = build(cell, args.steps)
        expected = model(ids, training=False).numpy()
        forms = {
            "stock (TF converter)": stock_conversion(model, args.steps),
            "rnnx loop (TensorList)": rnnx_conversion(model, "loop", store="tensor_list"),
            "rnnx loop": rnnx_conversion(model, "loop"),
            "rnnx loop, dyn. batch": rnnx_conversion(model, "loop", dynamic_batch=True),
            "rnnx unrolled": rnnx_conversion(model, "unrolled"),
            "rnnx fused": rnnx_conversion(model, "fused"),
        }
        auto = [layer.lowering.value for layer in plan_export(model, "auto").layers]
        runners, notes, errors = {}, {}, {}
        for name, data in forms.items():
            if isinstance(data, str):
                notes[name] = data
                continue
            runners[name] = TfliteRunner(data, ids)
            runners[name]()
            errors[name] = float(np.abs(runners[name].result() - expected).max())
        runners["Keras tf.function"] = KerasRunner(model, ids, jit=False)
        runners["Keras XLA (jit)"] = KerasRunner(model, ids, jit=True)
        medians = measure(runners, args.runs)
        stock = medians.get("stock (TF converter)")
        xla = medians["Keras XLA (jit)"]
        for name in [*forms, "Keras tf.function", "Keras XLA (jit)"]:
            if name in notes:
                print(f"{cell:<5} {name:<22} {'':>9} {'':>8} {'':>9} {'':>8}  {notes[name]}")
                continue
            size = f"{len(forms[name]) / 1024:9.1f}" if name in forms else f"{'':>9}"
            ms = medians[name] * 1e3
            vs_stock = f"{stock / medians[name]:8.2f}x" if stock else f"{'n/a':>9}"
            vs_xla = f"{medians[name] / xla:7.2f}x"
            err = f"{errors[name]:.1e}" if name in errors else ""
            print(f"{cell:<5} {name:<22} {size} {ms:8.3f} {vs_stock} {vs_xla}  {err}")
        print(f"{cell:<5} auto picks: {', '.join(auto)}")


if __name__ == "__main__":
    main()
