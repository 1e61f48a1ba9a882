"""Training throughput (samples per second) on the GPU against the CPU, in one run, under five minutes.

Two models, each trained for ``--steps`` minibatches after ``--warmup`` on every device
TensorFlow sees (``/CPU:0`` always, ``/GPU:0`` when there is one), with the same batches:

* the seed sentiment model (Embedding 10000×8 → GRU 16 → 8 → 4 → Dense), T = 581, batch 64,
  on tokenized IMDB training reviews; its GRUs meet cuDNN's conditions, so on the GPU Keras runs
  them on cuDNN (the script prints the cuDNN report);
* the character language model, Keras GRU(256) (``--impl keras``), 35 steps, batch 32, on
  windows of *The Time Machine*; samples are sequences (× 35 characters).

On the GPU it also runs each with ``mixed_float16`` (float16 compute, float32 variables). Each
figure is the median over the timed steps of ``batch / seconds per train_on_batch``; the ratio
GPU / CPU is within this one run.

Usage: python benchmarks/training_throughput.py [--data ../shared/data] [--steps 20] [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def sentiment_batches(data: str, batch: int, count: int):
    from rnnx.models.data.imdb import find_imdb, load_imdb
    from rnnx.models.text.tokenizer import WordTokenizer

    reviews = load_imdb(find_imdb(data), "train").shuffled(0).head(batch * count)
    tokenizer = WordTokenizer.fit(reviews.texts, num_words=10000, max_tokens=581, padding="post")
    ids = tokenizer.encode(reviews.texts)
    labels = reviews.labels.astype(np.float32)
    return [(ids[i * batch : (i + 1) * batch], labels[i * batch : (i + 1) * batch]) for i in range(count)]


def charlm_batches(data: str, batch: int, steps: int, count: int):
    from rnnx.models.data.corpus import find_corpus, read_text
    from rnnx.models.text.chars import CharTokenizer

    text = read_text(find_corpus(data, "timemachine"))
    tokenizer = CharTokenizer.fit(text, max_tokens=steps)
    ids = tokenizer.encode(text)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        starts = rng.integers(0, len(ids) - steps - 1, size=batch)
        x = np.stack([ids[s : s + steps] for s in starts]).astype(np.int32)
        y = np.stack([ids[s + 1 : s + steps + 1] for s in starts]).astype(np.int32)
        out.append((x, y))
    return out, tokenizer.vocab_size


def build(kind: str, vocab: int):
    import keras

    from rnnx.models.zoo.charlm import CharLMSpec, build_charlm
    from rnnx.models.zoo.sentiment import SentimentSpec, build_sentiment_model, compile_sentiment_model

    keras.utils.set_random_seed(0)
    if kind == "sentiment":
        model = build_sentiment_model(SentimentSpec(max_tokens=581, mask_padding=True))
        compile_sentiment_model(model)
        return model
    model = build_charlm(CharLMSpec(vocab, "gru", 256, "keras"))
    model.compile(
        optimizer=keras.optimizers.SGD(1.0), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def throughput(kind: str, device: str, batches, vocab: int, warmup: int, mixed: bool) -> tuple[float, list[str]]:
    import keras
    import tensorflow as tf

    from rnnx.models.training.cudnn import cudnn_report

    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        with tf.device(device):
            model = build(kind, vocab)
            report = [v.describe() for v in cudnn_report(model, gpu_available=device.startswith("/GPU"))]
            for x, y in batches[:warmup]:
                model.train_on_batch(x, y)
            rates = []
            for x, y in batches[warmup:]:
                start = time.perf_counter()
                model.train_on_batch(x, y)
                rates.append(len(x) / (time.perf_counter() - start))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return statistics.median(rates), report


def main() -> None:
    import tensorflow as tf

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    count = args.steps + args.warmup
    gpus = tf.config.list_logical_devices("GPU")
    devices = ["/CPU:0"] + (["/GPU:0"] if gpus else [])
    print(f"TensorFlow {tf.__version__}; GPUs: {[g.name for g in gpus] or 'none'}; {args.steps} timed steps per figure")
    data = {
        "sentiment": (sentiment_batches(args.data, 64, count), 0),
        "charlm": charlm_batches(args.data, 32, 35, count),
    }
    for kind, (batches, vocab) in data.items():
        results = {}
        for device in devices:
            for mixed in (False, True) if device.startswith("/GPU") else (False,):
                label = f"{device}{' mixed_float16' if mixed else ''}"
                rate, report = throughput(kind, device, batches, vocab, args.warmup, mixed)
                results[label] = rate
                print(f"{kind:<9} {label:<22} {rate:10.1f} samples/s   cuDNN: {'; '.join(report)}", flush=True)
        cpu = results["/CPU:0"]
        for label, rate in results.items():
            if label != "/CPU:0":
                print(f"{kind:<9} {label:<22} {rate / cpu:9.2f}x the CPU")


if __name__ == "__main__":
    main()
