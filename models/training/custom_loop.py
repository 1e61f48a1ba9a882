"""A training loop written with ``tf.distribute`` primitives, for the multi-worker strategy.

Keras 3's ``Model.fit`` does not run under ``tf.distribute.MultiWorkerMirroredStrategy`` (it
fails converting a ``PerReplica`` value to a tensor; keras-team/keras#20585, open as of Keras
3.15). This loop does what ``fit`` would: the dataset is shuffled with the same seed on every
worker and sharded by data, each replica computes the loss of its share averaged over the
**global** batch (``tf.nn.compute_average_loss``), gradients are all-reduced by the optimizer
under the strategy, and the epoch's loss and accuracy are summed over the replicas. Validation
runs on every worker on the whole validation split (it is small), so that every worker takes the
same early-stopping decision.
"""

from __future__ import annotations

import math

import numpy as np


def fit_distributed(
    model,
    strategy,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    epochs: int,
    global_batch: int,
    patience: int,
    seed: int,
    initial_epoch: int = 0,
    on_epoch_end=None,
    log=print,
) -> dict[str, list[float]]:
    """Train a compiled classifier under ``strategy``: softmax output with class indices, or one
    sigmoid output with 0/1 labels (binary cross-entropy, threshold 0.5).

    Args:
        model: built and compiled inside ``strategy.scope()``; its optimizer is used.
        strategy: a ``tf.distribute.Strategy``.
        train, valid: ``(x, y)`` arrays; ``y`` int class indices.
        epochs: last epoch (1-based count, as ``Model.fit``'s ``epochs``).
        global_batch: examples per step over all replicas.
        patience: epochs without a lower validation loss before stopping; the best epoch's
            weights are restored at the end.
        seed: shuffling seed (the same on every worker).
        initial_epoch: epochs already done (resuming).
        on_epoch_end: called as ``on_epoch_end(epoch, logs)`` after each epoch (0-based epoch).
        log: one line per epoch.

    Returns:
        The history: ``{"loss", "accuracy", "val_loss", "val_accuracy"}`` per epoch run.
    """
    import keras
    import tensorflow as tf

    x, y = train
    binary = model.outputs[0].shape[-1] == 1
    if binary:
        per_example = keras.losses.BinaryCrossentropy(reduction=None)
        valid_loss = keras.losses.BinaryCrossentropy()
        y = y.astype(np.float32).reshape(-1, 1)
        valid = (valid[0], valid[1].astype(np.float32).reshape(-1, 1))
    else:
        per_example = keras.losses.SparseCategoricalCrossentropy(reduction=None)
        valid_loss = keras.losses.SparseCategoricalCrossentropy()
        y = y.astype(np.int64)
    optimizer = model.optimizer
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(global_batch)
        .with_options(options)
    )
    distributed = strategy.experimental_distribute_dataset(dataset)

    def decide(probabilities):
        probabilities = tf.cast(probabilities, tf.float32)
        if binary:
            return tf.cast(probabilities >= 0.5, tf.float32)
        return tf.cast(tf.argmax(probabilities, axis=-1), tf.float32)

    def truth(labels):
        return tf.cast(labels, tf.float32)

    def replica_step(features, labels):
        with tf.GradientTape() as tape:
            probabilities = model(features, training=True)
            loss = tf.nn.compute_average_loss(per_example(labels, probabilities), global_batch_size=global_batch)
            scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(decide(probabilities), truth(labels)), tf.float32))
        return loss, correct

    @tf.function
    def train_step(batch):
        loss, correct = strategy.run(replica_step, args=batch)
        total = tf.distribute.ReduceOp.SUM
        return strategy.reduce(total, loss, axis=None), strategy.reduce(total, correct, axis=None)

    steps = math.ceil(len(x) / global_batch)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    best, best_weights, waited = math.inf, None, 0
    for epoch in range(initial_epoch, epochs):
        losses, correct = [], 0.0
        for batch in distributed:
            loss, right = train_step(batch)
            losses.append(float(loss))
            correct += float(right)
        probabilities = model.predict(valid[0], batch_size=256, verbose=0)
        logs = {
            "loss": float(np.mean(losses)) if losses else math.nan,
            "accuracy": correct / len(x),
            "val_loss": float(valid_loss(valid[1], probabilities)),
            "val_accuracy": float(np.mean(decide(probabilities).numpy().reshape(-1) == valid[1].reshape(-1))),
        }
        for key, value in logs.items():
            history[key].append(value)
        log(
            f"epoch {epoch + 1}/{epochs}: accuracy {logs['accuracy']:.4f}, loss {logs['loss']:.4f}, "
            f"val_accuracy {logs['val_accuracy']:.4f}, val_loss {logs['val_loss']:.4f} ({steps} step{'s' * (steps != 1)})"
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
        if logs["val_loss"] < best:
            best, best_weights, waited = logs["val_loss"], model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return history
