"""Which recurrent layers Keras 3 runs on cuDNN kernels, and why not the others.

Keras 3 (TensorFlow backend) sends a ``GRU`` or ``LSTM`` layer to cuDNN only when all of these
hold (``keras/src/layers/rnn/gru.py``, ``lstm.py`` and ``keras/src/backend/tensorflow/rnn.py``):

* a GPU is visible to TensorFlow;
* ``use_cudnn`` is ``"auto"`` or ``True``;
* ``activation`` is tanh and ``recurrent_activation`` is sigmoid;
* ``recurrent_dropout == 0``, ``unroll=False``, ``use_bias=True``;
* for a GRU, ``reset_after=True`` (the cuDNN GRU variant);
* with a mask, every sequence in the batch is right-padded (padding at the end, no gaps); this
  is checked on each batch at run time, and a batch that is not goes to the generic kernel.

``SimpleRNN`` and the generic ``RNN(cell)`` layer have no cuDNN path. ``Bidirectional`` runs its
two directions as two layers, each judged alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CudnnVerdict:
    """Whether one recurrent layer runs on cuDNN.

    Attributes:
        layer: the layer's name (``name/forward`` … for a direction of a ``Bidirectional``).
        layer_class: ``GRU``, ``LSTM``, ``SimpleRNN``, ``RNN(GRUCell)`` ….
        cudnn: ``True`` when Keras will use the cuDNN kernel (on this machine).
        reasons: why not, one phrase each; empty when ``cudnn``.
        note: a condition checked at run time (right-padded masks), or ``""``.
    """

    layer: str
    layer_class: str
    cudnn: bool
    reasons: tuple[str, ...]
    note: str = ""

    def describe(self) -> str:
        """One line, e.g. ``gru_1 (GRU): cuDNN`` or ``rnn_1 (SimpleRNN): generic kernel (…)``."""
        if self.cudnn:
            return f"{self.layer} ({self.layer_class}): cuDNN" + (f"; {self.note}" if self.note else "")
        return f"{self.layer} ({self.layer_class}): generic kernel ({'; '.join(self.reasons)})"

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "layer_class": self.layer_class,
            "cudnn": self.cudnn,
            "reasons": list(self.reasons),
            "note": self.note,
        }


def _name(activation) -> str:
    return getattr(activation, "__name__", str(activation))


def layer_obstacles(layer) -> tuple[str, ...]:
    """Why the configuration of one ``RNN`` layer (not ``Bidirectional``) keeps it off cuDNN; ``()`` if nothing does."""
    import keras

    if isinstance(layer, keras.layers.SimpleRNN):
        return ("Keras has no cuDNN kernel for SimpleRNN",)
    if type(layer) not in (keras.layers.GRU, keras.layers.LSTM):
        return (f"the generic RNN layer ({type(layer.cell).__name__}) has no cuDNN path; use keras.layers.GRU/LSTM",)
    cell = layer.cell
    reasons = []
    if getattr(layer, "use_cudnn", "auto") is False:
        reasons.append("use_cudnn=False")
    if _name(cell.activation) != "tanh":
        reasons.append(f"activation={_name(cell.activation)} (cuDNN needs tanh)")
    if _name(cell.recurrent_activation) != "sigmoid":
        reasons.append(f"recurrent_activation={_name(cell.recurrent_activation)} (cuDNN needs sigmoid)")
    if cell.recurrent_dropout:
        reasons.append(f"recurrent_dropout={cell.recurrent_dropout} (cuDNN needs 0)")
    if layer.unroll:
        reasons.append("unroll=True")
    if not cell.use_bias:
        reasons.append("use_bias=False")
    if isinstance(layer, keras.layers.GRU) and not cell.reset_after:
        reasons.append("reset_after=False (cuDNN has only the reset_after=True GRU)")
    return tuple(reasons)


def cudnn_report(model, gpu_available: bool | None = None, masked: set[str] | None = None) -> list[CudnnVerdict]:
    """A verdict per recurrent layer (per direction of a ``Bidirectional``) of ``model``.

    Args:
        model: a built Keras model.
        gpu_available: whether TensorFlow sees a GPU (default: ask TensorFlow).
        masked: names of the layers that receive a mask (default: found by running the model
            once on zeros; see :func:`rnnx.exporter.lowering.keras_layers.probe_recurrent_inputs`).

    Returns:
        One :class:`CudnnVerdict` per recurrent layer direction, in model order.
    """
    import keras

    from rnnx.exporter.planning import recurrent_layers

    if gpu_available is None:
        import tensorflow as tf

        gpu_available = bool(tf.config.list_logical_devices("GPU"))
    layers = recurrent_layers(model)
    if masked is None:
        masked = _masked_layers(model, [layer.name for layer in layers])
    verdicts = []
    for layer in layers:
        parts = (
            [(f"{layer.name}/forward", layer.forward_layer), (f"{layer.name}/backward", layer.backward_layer)]
            if isinstance(layer, keras.layers.Bidirectional)
            else [(layer.name, layer)]
        )
        for name, part in parts:
            reasons = list(layer_obstacles(part))
            if not gpu_available:
                reasons.insert(0, "no GPU visible to TensorFlow")
            cls = type(part).__name__ if type(part) is not keras.layers.RNN else f"RNN({type(part.cell).__name__})"
            note = (
                "masked: cuDNN only for batches whose padding is all at the end (right-padded)"
                if layer.name in masked
                else ""
            )
            verdicts.append(CudnnVerdict(name, cls, not reasons, tuple(reasons), note))
    return verdicts


def _masked_layers(model, names: list[str]) -> set[str]:
    """Which of the recurrent layers ``names`` receive a mask (by one run of the model on zeros)."""
    from rnnx.exporter.lowering.keras_layers import probe_recurrent_inputs

    if not names:
        return set()
    shapes = [(1, *(4 if d is None else d for d in tuple(t.shape)[1:])) for t in model.inputs]
    dtypes = [str(t.dtype) for t in model.inputs]
    try:
        probed = probe_recurrent_inputs(model, names, shapes, dtypes)
    except Exception:  # a layer rnnx cannot lower: judge by the model's masking layers instead
        import keras

        masking = any(
            isinstance(layer, keras.layers.Masking) or getattr(layer, "mask_zero", False) for layer in model.layers
        )
        return set(names) if masking else set()
    return {name for name, (masked, _) in probed.items() if masked}


def report_cudnn(model, log=print) -> list[dict]:
    """Log one line per recurrent layer direction (:meth:`CudnnVerdict.describe`); returns them as dicts."""
    verdicts = cudnn_report(model)
    for verdict in verdicts:
        log(f"cuDNN: {verdict.describe()}")
    return [verdict.to_dict() for verdict in verdicts]
