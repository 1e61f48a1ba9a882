"""Cost of one streaming step on the device predictor, for the seed model's cells.

Each seed model variant (Embedding → 16 → 8 → 4 → Dense, fixed random weights) is exported with
rnnx (``auto`` lowering; the ``step`` signature is always the cell's equations) and driven one
token at a time through :class:`rnnx.exporter.runtime.streaming.Stream`:

* ``in place``: the predictor's path: inputs and states written into the interpreter's tensors;
* ``signature runner``: the same step through LiteRT's public ``SignatureRunner`` call
  (resize, allocate, copy in, invoke, copy out every time), for comparison.

Median microseconds per step over ``--steps`` steps, interleaved in chunks, one thread.

Usage: python benchmarks/step_latency.py [--steps 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

from lowering_latency import build  # noqa: E402


def export(cell: str, folder: Path) -> Path:
    from rnnx.exporter.export import ExportOptions, export_model

    model = build(cell, 64)
    model.save(folder / f"{cell}.keras")
    out = folder / f"{cell}.tflite"
    export_model(folder / f"{cell}.keras", out, ExportOptions(isolate=False))
    return out


def main() -> None:
    import numpy as np

    from rnnx.exporter.runtime.predictor import Predictor

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    print(f"seed model, one token per step, 1 thread, median of {args.steps} steps")
    print(f"{'cell':<5} {'in place µs':>12} {'signature runner µs':>20} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for cell in ("gru", "lstm", "rnn"):
            path = export(cell, Path(folder))
            fast = Predictor(path).stream()
            # A separate interpreter: the runner re-allocates the step subgraph on every call.
            runner = Predictor(path)._interpreter.get_signature_runner("step")
            states = {
                name: np.zeros(d["shape"], np.float32)
                for name, d in runner.get_input_details().items()
                if name != "token_ids"
            }
            token = np.array([[7]], np.int32)
            samples = {"fast": [], "runner": []}
            for _ in range(200):
                fast.push_token(7)
            for _ in range(max(1, args.steps // 100)):
                for _ in range(100):
                    start = time.perf_counter()
                    fast.push_token(7)
                    samples["fast"].append(time.perf_counter() - start)
                for _ in range(100):
                    start = time.perf_counter()
                    out = runner(token_ids=token, **states)
                    states = {name: out[name + "_out"] for name in states}
                    samples["runner"].append(time.perf_counter() - start)
            a, b = (statistics.median(samples[k]) * 1e6 for k in ("fast", "runner"))
            print(f"{cell:<5} {a:12.2f} {b:20.2f} {b / a:6.2f}x")


if __name__ == "__main__":
    main()
