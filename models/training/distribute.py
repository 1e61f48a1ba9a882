"""Training on one device, several GPUs of one host, or several hosts, through ``tf.distribute``.

* ``none``: TensorFlow's default strategy (one device: the first GPU, else the CPU).
* ``mirrored``: ``tf.distribute.MirroredStrategy``: one replica per GPU of this host (or per
  logical CPU device made with ``cpu_devices``), gradients all-reduced every step.
* ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy``: one process per host,
  configured by the ``TF_CONFIG`` environment variable (``{"cluster": {"worker": [host:port,
  …]}, "task": {"type": "worker", "index": i}}``); worker 0 is the chief and writes the outputs.

The batch size given to ``rnnx train`` is per replica; the global batch is that times the
replicas in sync, and the learning rate is scaled by the same factor (the linear scaling rule:
P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017), so that
one epoch makes about the same progress on any number of replicas.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rnnx.exporter.errors import InputFileError

STRATEGIES = ("none", "mirrored", "multiworker")


@dataclass
class Distribution:
    """A strategy and what it implies for a training run.

    Attributes:
        name: ``none``, ``mirrored`` or ``multiworker``.
        strategy: the ``tf.distribute.Strategy``.
        replicas: replicas in sync (devices × workers).
        is_chief: whether this process writes the outputs.
        description: one line for the log.
    """

    name: str
    strategy: object
    replicas: int
    is_chief: bool
    description: str

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def learning_rate(self, base: float) -> float:
        """``base`` scaled linearly by the replicas (see the module docstring)."""
        return base * self.replicas

    def log_scaling(self, per_replica_batch: int, base_learning_rate: float, log=print) -> None:
        """Say the global batch and the scaled learning rate (when there is more than one replica)."""
        if self.replicas > 1:
            log(
                f"global batch {self.global_batch(per_replica_batch)} ({per_replica_batch} per replica × "
                f"{self.replicas}); learning rate {self.learning_rate(base_learning_rate):g} "
                f"({base_learning_rate:g} × {self.replicas})"
            )


@contextmanager
def compute_precision(mixed: bool, log=print):
    """Inside: Keras' ``mixed_float16`` policy when ``mixed`` (float16 compute, float32 variables); float32 after."""
    import keras

    if not mixed:
        yield
        return
    keras.mixed_precision.set_global_policy("mixed_float16")
    log("mixed precision: float16 compute, float32 variables (mixed_float16)")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def split_cpu(count: int) -> None:
    """Make ``count`` logical CPU devices (to run a mirrored strategy without GPUs); before TensorFlow starts work.

    Raises:
        InputFileError: if TensorFlow's devices are already initialised.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise InputFileError("--cpu-devices must be set before TensorFlow starts; run it in a fresh process") from None


def make_distribution(name: str = "none", cpu_devices: int | None = None) -> Distribution:
    """The strategy called ``name``.

    Args:
        name: one of :data:`STRATEGIES`.
        cpu_devices: split the CPU into this many logical devices first (``mirrored`` then runs
            one replica on each: a way to try the strategy on a machine without GPUs).

    Raises:
        InputFileError: an unknown name, or ``multiworker`` without a usable ``TF_CONFIG``.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise InputFileError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if cpu_devices and name != "mirrored":
        raise InputFileError("--cpu-devices splits the CPU for --strategy mirrored; add --strategy mirrored")
    if cpu_devices and cpu_devices > 1:
        split_cpu(cpu_devices)
    if name == "none":
        strategy = tf.distribute.get_strategy()
        return Distribution(name, strategy, 1, True, "one device (no distribution)")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        kind = "GPU" if gpus else "CPU"
        return Distribution(
            name,
            strategy,
            strategy.num_replicas_in_sync,
            True,
            f"mirrored over {strategy.num_replicas_in_sync} {kind} device(s) of this host",
        )
    config = _tf_config()
    workers = config["cluster"]["worker"]
    index = int(config["task"]["index"])
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution(
        name,
        strategy,
        strategy.num_replicas_in_sync,
        index == 0,
        f"multi-worker over {len(workers)} workers (this is worker {index}"
        + (", the chief" if index == 0 else "")
        + f"), {strategy.num_replicas_in_sync} replicas",
    )


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise InputFileError(
            "--strategy multiworker needs TF_CONFIG, e.g. "
            '\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        index = int(config["task"]["index"])
        assert config["task"].get("type", "worker") == "worker" and 0 <= index < len(workers)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise InputFileError(
            "TF_CONFIG is not a worker cluster: it needs cluster.worker (a list of host:port) and "
            "task.type 'worker' with an index into it"
        ) from None
    return config


def output_folder(distribution: Distribution, output_dir: Path) -> Path:
    """Where this process writes: ``output_dir`` for the chief, a scratch folder for the other workers."""
    if distribution.is_chief:
        return output_dir
    import tempfile

    return Path(tempfile.mkdtemp(prefix="rnnx-worker-"))


def finish_outputs(distribution: Distribution, output_dir: Path, chief_dir: Path, metrics: dict, log=print):
    """``(folder holding the outputs, metrics with "chief")`` after training; a non-chief worker's scratch copy is removed."""
    if distribution.is_chief:
        return output_dir, {**metrics, "chief": True}
    import shutil

    shutil.rmtree(output_dir, ignore_errors=True)
    log("this worker's copy is discarded; the chief (worker 0) wrote the outputs")
    return chief_dir, {**metrics, "chief": False}
