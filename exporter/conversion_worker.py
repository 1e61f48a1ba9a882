"""Child-process entry point of an isolated conversion (``python -m rnnx.exporter.conversion_worker JOB``).

``JOB`` is a JSON file with ``source`` (model path), ``plan`` (an ``ExportPlan`` as a dict),
``quantization`` (a ``QuantizationPlan`` as a dict), ``representative`` (a ``.npy`` of calibration
sequences, or null), ``integer_io``, ``output`` (where to write the bytes) and ``result`` (where
to write ``{"error", "kind"}`` on a deliberate failure). A crash of the converter kills only this process; the parent reports it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    from rnnx.exporter.errors import RnnxError

    try:
        import numpy as np

        from rnnx.exporter.export import convert_model
        from rnnx.exporter.loading import load_keras_model
        from rnnx.exporter.planning import ExportPlan
        from rnnx.exporter.quantization import Quantization, QuantizationPlan

        model = load_keras_model(job["source"])
        q = job["quantization"]
        quantization = QuantizationPlan(Quantization(q["mode"]), q["form"], q["reason"])
        representative = np.load(job["representative"]) if job.get("representative") else None
        data = convert_model(
            model, ExportPlan.from_dict(job["plan"]), True, quantization, representative, job.get("integer_io", False)
        )
    except RnnxError as err:
        Path(job["result"]).write_text(json.dumps({"error": str(err), "kind": type(err).__name__}))
        return 2
    Path(job["output"]).write_bytes(data)
    Path(job["result"]).write_text(json.dumps({"error": None}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
