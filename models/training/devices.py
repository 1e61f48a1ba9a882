"""Which device TensorFlow trains on, said plainly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComputeDevice:
    """The device training runs on.

    Attributes:
        kind: ``"gpu"`` or ``"cpu"``.
        description: one line for people, e.g. ``"GPU 0: NVIDIA H200 (cuDNN 9.3)"``.
        gpu_count: GPUs TensorFlow sees.
    """

    kind: str
    description: str
    gpu_count: int


def describe_compute() -> ComputeDevice:
    """Ask TensorFlow which GPUs it sees; Keras runs GRU/LSTM on cuDNN kernels there when it can."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return ComputeDevice("cpu", "CPU (TensorFlow sees no GPU)", 0)
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    except (ValueError, RuntimeError):
        name = gpus[0].name
    cudnn = tf.sysconfig.get_build_info().get("cudnn_version", "unknown")
    more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
    return ComputeDevice("gpu", f"GPU 0: {name}{more}, cuDNN {cudnn} kernels for GRU/LSTM", len(gpus))
