"""``rnnx train charlm``: a character language model on *The Time Machine*, the book's way.

The recipe of *Dive into Deep Learning* (d2l.ai ch. 9–10, ``train_ch8`` in the 0.17 edition):
the first 10,000 characters of the corpus, minibatches of 32 × 35 characters by sequential (or
random) partitioning, the state carried across sequential minibatches and detached from the
graph (truncated backpropagation through time), SGD with learning rate 1, gradients clipped to
global norm 1, perplexity ``exp(mean cross-entropy)`` per epoch, 500 epochs.

Writes into the output folder: ``model.keras`` (the stateless form, exported by ``rnnx
export``), ``tokenizer.json`` (the character vocabulary), ``task.json`` (language model),
``metrics.json`` (perplexity per epoch, held-out perplexity, a generated sample, wall time) and
``training_curve.png``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnx.models.data.corpus import random_batches, read_text, sequential_batches, split_corpus
from rnnx.models.text.chars import CharTokenizer
from rnnx.models.zoo.charlm import OUTPUT_NAME, CharLMSpec


@dataclass(frozen=True)
class CharLMTrainConfig:
    """Training options (defaults: the book's).

    Attributes:
        cell, impl, num_hiddens: the model (see :class:`~rnnx.models.zoo.charlm.CharLMSpec`).
        epochs: passes over the training characters.
        batch_size, num_steps: minibatch shape (sequences × characters).
        learning_rate: SGD learning rate.
        clip_norm: global gradient-norm clip.
        partitioning: ``"sequential"`` (state carried, truncated BPTT) or ``"random"``.
        max_tokens: training characters from the start of the corpus (the book uses 10,000);
            ``None``: everything before the held-out part.
        heldout_fraction: the end of the corpus kept for held-out perplexity.
        sample_prefix: prefix of the sample generated after training.
        seed: seeds initialisation and partitioning.
    """

    cell: str = "gru"
    impl: str = "scratch"
    num_hiddens: int = 256
    epochs: int = 500
    batch_size: int = 32
    num_steps: int = 35
    learning_rate: float = 1.0
    clip_norm: float = 1.0
    partitioning: str = "sequential"
    max_tokens: int | None = 10000
    heldout_fraction: float = 0.1
    sample_prefix: str = "time traveller "
    seed: int = 0


@dataclass(frozen=True)
class CharLMResult:
    """What training produced: the folder, the exported-form model path, and ``metrics.json``'s content."""

    output_dir: Path
    model_path: Path
    metrics: dict


class _Trainer:
    """The training form of the model, its optimiser, and one compiled training step."""

    def __init__(self, spec: CharLMSpec, config: CharLMTrainConfig):
        import keras
        import tensorflow as tf

        from rnnx.models.zoo.charlm import build_charlm

        self.model = build_charlm(spec, with_state=True)
        self.state_count = 2 if spec.cell == "lstm" else 1
        self.num_hiddens = spec.num_hiddens
        optimizer = keras.optimizers.SGD(config.learning_rate)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model, clip = self.model, config.clip_norm

        @tf.function(reduce_retracing=True)
        def train_step(x, y, states):
            with tf.GradientTape() as tape:
                logits, *final = model([x, *states], training=True)
                loss = loss_fn(y, logits)
            grads = tape.gradient(loss, model.trainable_variables)
            grads, _ = tf.clip_by_global_norm(grads, clip)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss, [tf.stop_gradient(s) for s in final]

        @tf.function(reduce_retracing=True)
        def eval_step(x, y, states):
            logits, *final = model([x, *states], training=False)
            return loss_fn(y, logits), final

        self.train_step, self.eval_step = train_step, eval_step

    def zeros(self, batch: int) -> list:
        import tensorflow as tf

        return [tf.zeros((batch, self.num_hiddens)) for _ in range(self.state_count)]

    def perplexity(self, ids: np.ndarray, batch_size: int, num_steps: int) -> float:
        """Perplexity over ``ids`` read sequentially with the state carried (no training)."""
        rng = np.random.default_rng(0)
        total, count, states = 0.0, 0, None
        for x, y in sequential_batches(ids, batch_size, num_steps, rng):
            states = states if states is not None else self.zeros(len(x))
            loss, states = self.eval_step(x, y, states)
            total += float(loss) * y.size
            count += y.size
        return math.exp(total / max(count, 1))

    def greedy(self, tokenizer: CharTokenizer, prefix: str, length: int) -> str:
        """The book's ``predict_ch8``: warm up on ``prefix``, then append the most likely character."""
        import tensorflow as tf

        states = self.zeros(1)
        ids = list(tokenizer.encode(prefix))
        for token in ids[:-1]:
            _, *states = self.model([tf.constant([[token]], tf.int32), *states], training=False)
        for _ in range(length):
            logits, *states = self.model([tf.constant([[ids[-1]]], tf.int32), *states], training=False)
            ids.append(int(np.argmax(np.asarray(logits)[0, -1])))
        return tokenizer.decode(ids)


def train_charlm(config: CharLMTrainConfig, corpus_path: str | Path, output_dir: str | Path, log=print) -> CharLMResult:
    """Train the language model and save it with its tokenizer, metrics and perplexity curve.

    Raises:
        InputFileError: an unreadable or too short corpus.
        ValueError: an unknown partitioning.
    """
    import keras

    from rnnx.models.training.cudnn import report_cudnn
    from rnnx.models.training.devices import describe_compute
    from rnnx.models.training.plots import plot_perplexity
    from rnnx.models.zoo.charlm import build_charlm

    if config.partitioning not in ("sequential", "random"):
        raise ValueError(f"partitioning must be 'sequential' or 'random', got {config.partitioning!r}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    log(f"device: {describe_compute().description}")
    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    text = read_text(corpus_path)
    tokenizer = CharTokenizer.fit(text, max_tokens=config.num_steps)
    split = split_corpus(tokenizer.encode(text), config.heldout_fraction, config.max_tokens)
    log(
        f"data: {len(split.train):,} training and {len(split.heldout):,} held-out characters of {corpus_path}; "
        f"vocabulary {tokenizer.vocab_size} tokens"
    )
    spec = CharLMSpec(tokenizer.vocab_size, config.cell, config.num_hiddens, config.impl)
    trainer = _Trainer(spec, config)
    cudnn = report_cudnn(trainer.model, log)
    rng = np.random.default_rng(config.seed)
    batches = sequential_batches if config.partitioning == "sequential" else random_batches
    history: dict[str, list] = {"perplexity": [], "heldout_perplexity": []}
    fit_started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        total, count, states = 0.0, 0, None
        for x, y in batches(split.train, config.batch_size, config.num_steps, rng):
            if states is None or config.partitioning == "random":
                states = trainer.zeros(len(x))
            loss, states = trainer.train_step(x, y, states)
            total += float(loss) * y.size
            count += y.size
        history["perplexity"].append(math.exp(total / max(count, 1)))
        report = epoch == 1 or epoch % max(1, config.epochs // 10) == 0 or epoch == config.epochs
        history["heldout_perplexity"].append(
            trainer.perplexity(split.heldout, config.batch_size, config.num_steps) if report else None
        )
        if report:
            log(
                f"epoch {epoch}/{config.epochs}: perplexity {history['perplexity'][-1]:.2f}, "
                f"held-out {history['heldout_perplexity'][-1]:.2f}"
            )
    fit_seconds = time.perf_counter() - fit_started
    sample = trainer.greedy(tokenizer, config.sample_prefix, 50)
    log(f"sample: {sample!r}")

    exported = build_charlm(spec)
    exported.set_weights(trainer.model.get_weights())
    model_path = output_dir / "model.keras"
    exported.save(model_path)
    tokenizer.save(output_dir / "tokenizer.json")
    task = {"kind": "language_model", "labels": None, "threshold": None, "output": OUTPUT_NAME}
    (output_dir / "task.json").write_text(json.dumps(task, indent=2) + "\n")
    metrics = {
        "config": asdict(config),
        "corpus": str(corpus_path),
        "cudnn": cudnn,
        "characters": {"train": len(split.train), "heldout": len(split.heldout), "vocabulary": tokenizer.vocab_size},
        "history": history,
        "final": {
            "perplexity": history["perplexity"][-1],
            "heldout_perplexity": trainer.perplexity(split.heldout, config.batch_size, config.num_steps),
        },
        "sample": sample,
        "fit_seconds": round(fit_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_perplexity(
        history, output_dir / "training_curve.png", f"{config.cell.upper()} ({config.impl}) on {Path(corpus_path).name}"
    )
    return CharLMResult(output_dir, model_path, metrics)
