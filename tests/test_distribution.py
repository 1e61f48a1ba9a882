"""tf.distribute: mirrored over two logical CPU devices, two workers on loopback, mixed precision.

Each run is a fresh ``rnnx train sensors`` process (logical devices and a cluster must be set up
before TensorFlow starts), on BasicMotions with a tiny GRU for a few epochs.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

ARGS = ["--dataset", "basic_motions", "--units", "6", "--epochs", "6", "--batch-size", "8", "--no-progress"]


def _train(shared_data, out, *extra, env=None):
    command = [sys.executable, "-m", "rnnx.exporter.cli", "train", "sensors", "--data", str(shared_data)]
    return subprocess.Popen(
        [*command, *ARGS, "--output", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def _finish(process, timeout=600) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def _architecture(path):
    model = keras.saving.load_model(path)
    return [(type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]


@pytest.fixture(scope="module")
def single(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    _finish(_train(shared_data, out))
    return out


def test_mirrored_over_two_cpu_devices(shared_data, single, tmp_path):
    output = _finish(_train(shared_data, tmp_path, "--strategy", "mirrored", "--cpu-devices", "2"))
    assert "mirrored over 2 CPU device(s)" in output
    assert "global batch 16 (8 per replica × 2); learning rate 0.006 (0.003 × 2)" in output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["strategy"] == {"name": "mirrored", "replicas": 2, "global_batch": 16, "learning_rate": 0.006}
    assert _architecture(tmp_path / "model.keras") == _architecture(single / "model.keras")
    loss = metrics["history"]["loss"]
    assert loss[-1] < loss[0]  # converging


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_loopback(shared_data, single, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        out = tmp_path / f"worker{index}"
        processes.append(_train(shared_data, out, "--strategy", "multiworker", env={"TF_CONFIG": json.dumps(config)}))
    outputs = [_finish(p) for p in processes]
    assert "multi-worker over 2 workers (this is worker 0, the chief), 2 replicas" in outputs[0]
    assert "this is worker 1)" in outputs[1]
    chief = tmp_path / "worker0"
    assert not (tmp_path / "worker1").exists()  # only the chief writes the output folder
    metrics = json.loads((chief / "metrics.json").read_text())
    assert metrics["strategy"]["replicas"] == 2 and metrics["strategy"]["global_batch"] == 16
    assert _architecture(chief / "model.keras") == _architecture(single / "model.keras")
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]


def test_multiworker_without_tf_config_is_a_clear_error(shared_data, tmp_path):
    process = _train(shared_data, tmp_path, "--strategy", "multiworker", env={"TF_CONFIG": ""})
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 2 and "needs TF_CONFIG" in output and "Traceback" not in output


def test_mixed_precision_model_exports_as_float32(shared_data, tmp_path):
    """float16 compute while training; the file computes in float32 and matches the Keras model."""
    from rnnx.exporter.export import ExportOptions, export_model
    from rnnx.exporter.loading import load_keras_model
    from rnnx.exporter.runtime.predictor import Predictor
    from rnnx.models.data.sensors import load_sensor_dataset

    output = _finish(_train(shared_data, tmp_path, "--mixed-precision"))
    assert "mixed precision: float16 compute, float32 variables" in output
    trained = keras.saving.load_model(tmp_path / "model.keras")
    assert trained.layers[-1].dtype_policy.name == "mixed_float16"
    exported = load_keras_model(tmp_path / "model.keras")
    assert {layer.compute_dtype for layer in exported.layers} == {"float32"}
    export_model(tmp_path / "model.keras", tmp_path / "model.tflite", ExportOptions(isolate=False))
    census = Predictor(tmp_path / "model.tflite").metadata.op_census
    assert "CAST" not in census and "DEQUANTIZE" not in census
    x = load_sensor_dataset("basic_motions", shared_data).test.x[:8]
    got = Predictor(tmp_path / "model.tflite").predict_batches({"features": x})["probabilities"]
    np.testing.assert_allclose(got, exported.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(got, trained.predict(x, verbose=0), atol=5e-3)  # float16 compute in Keras
    stream = Predictor(tmp_path / "model.tflite").stream()  # sensor data step by step, as it arrives
    for values in x[0]:
        last = stream.push({"features": values[None, None, :]})
    np.testing.assert_allclose(last["probabilities"][0], got[0], atol=1e-5)


def test_sentiment_model_on_two_workers(shared_data, tmp_path):
    """The binary classifier through the multi-worker loop: same architecture as one device, falling loss."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    small = ["--max-samples", "200", "--test-samples", "40", "--max-tokens", "16", "--units", "4,3", "--epochs", "3"]
    command = [sys.executable, "-m", "rnnx.exporter.cli", "train", "sentiment", "--data", str(shared_data), *small]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(config)}
        processes.append(
            subprocess.Popen(
                [*command, "--output", str(tmp_path / f"w{index}"), "--no-progress", "--strategy", "multiworker"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
        )
    outputs = [_finish(p) for p in processes]
    assert "2 replicas" in outputs[0] and "global batch 128 (64 per replica × 2)" in outputs[0]
    single = tmp_path / "single"
    _finish(
        subprocess.Popen(
            [*command, "--output", str(single), "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    )
    assert _architecture(tmp_path / "w0" / "model.keras") == _architecture(single / "model.keras")
    metrics = json.loads((tmp_path / "w0" / "metrics.json").read_text())
    assert metrics["strategy"]["replicas"] == 2 and len(metrics["history"]["loss"]) == 3
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]


def test_cpu_devices_need_the_mirrored_strategy(shared_data, tmp_path):
    process = _train(shared_data, tmp_path / "x", "--cpu-devices", "2")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 2 and "add --strategy mirrored" in output
    assert not (tmp_path / "x").exists()  # nothing written for a refused run
