"""Where the outputs start to differ: the recurrent layers' own outputs, layer by layer, step by step.

Every rnnx export carries a signature ``rnnx_probes`` on the same subgraph as ``serving_default``
whose outputs are the recurrent layers' main outputs (``rnnx_probe__<layer>``: the output
sequence, or the last output for a layer that does not return sequences). Running it on the rows
of a check and the matching Keras sub-model on the same rows gives, for each layer in model
order, the error at each time step; the first layer beyond tolerance, and its first time step
beyond tolerance, are where the difference starts.
"""

from __future__ import annotations

import numpy as np

from rnnx.exporter.runtime.metadata import PROBES_SIGNATURE
from rnnx.exporter.verification.metrics import OutputMetrics, output_metrics

PROBE_PREFIX = "rnnx_probe__"


def layer_outputs(session, rows: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(layer, keras_output, tflite_output)]`` for every probed recurrent layer, in model order.

    Returns an empty list for a file without probes (exported by an older rnnx) or a model whose
    recurrent layers are not top-level layers of the Keras model.
    """
    import keras

    if PROBES_SIGNATURE not in session.predictor.signatures:
        return []
    converted = session.predictor.predict_batches({session.input_name: rows}, PROBES_SIGNATURE)
    names = {key[len(PROBE_PREFIX) :]: key for key in converted}
    layers = []
    for layer in session.model.layers:
        if layer.name in names:
            output = layer.output
            layers.append((layer.name, output[0] if isinstance(output, (list, tuple)) else output))
    if not layers:
        return []
    probe_model = keras.Model(session.model.inputs, [tensor for _, tensor in layers])
    reference = probe_model.predict(rows, batch_size=256, verbose=0)
    reference = reference if isinstance(reference, (list, tuple)) else [reference]
    return [(name, np.asarray(ref), converted[names[name]]) for (name, _), ref in zip(layers, reference)]


def layer_metrics(session, rows: np.ndarray) -> list[OutputMetrics]:
    """Per recurrent layer: the metrics of its output, with the error along time for sequences."""
    return [
        output_metrics(f"layer {name}", ref, conv, session.tolerance, time_axis=np.ndim(ref) >= 3)
        for name, ref, conv in layer_outputs(session, rows)
    ]


def first_divergence(metrics: list[OutputMetrics]) -> dict | None:
    """The first layer (in model order) beyond tolerance and its first time step beyond it."""
    for layer in metrics:
        if not layer.within:
            step = layer.first_step_over if layer.first_step_over is not None else "final"
            return {"layer": layer.name.removeprefix("layer "), "time_step": step, "max_abs": layer.max_abs}
    return None
