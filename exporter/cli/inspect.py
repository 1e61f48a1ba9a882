"""``rnnx inspect``: what is inside a ``.tflite`` file (TensorFlow-free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rnnx.exporter.cli._common import handles_errors, stdout


@handles_errors
def inspect_command(
    model: Annotated[Path, typer.Argument(help="A .tflite file.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print everything as JSON (the vocabulary as its size).")
    ] = False,
) -> None:
    """Show a .tflite file's signatures, op census, size and rnnx metadata."""
    from rnnx.exporter.inspection import inspect_model

    info = inspect_model(model)
    if json_output:
        stdout.print_json(json.dumps(info))
        return
    stdout.print(f"{info['path']}: {info['size_bytes']:,} bytes, {info['subgraphs']} subgraph(s)")
    table = Table(title="signatures", title_justify="left")
    quantized = any(t["quantization"] for sides in info["signatures"].values() for s in sides.values() for t in s)
    columns = ("signature", "side", "name", "dtype", "shape") + (("scale, zero point",) if quantized else ())
    for column in columns:
        table.add_column(column)
    for key, sides in info["signatures"].items():
        for side in ("inputs", "outputs"):
            for tensor in sides[side]:
                q = tensor["quantization"]
                row = [key, side[:-1], tensor["name"], tensor["dtype"], str(tensor["shape"])]
                row += [f"{q['scale']:.6g}, {q['zero_point']}" if q else "float"] if quantized else []
                table.add_row(*row)
    stdout.print(table)
    types = Table(title="tensor types", title_justify="left")
    for column in ("type", "tensors", "constants", "quantized", "constant bytes"):
        types.add_column(column, justify="left" if column == "type" else "right")
    for name, entry in info["tensor_types"].items():
        types.add_row(
            name, str(entry["tensors"]), str(entry["constants"]), str(entry["quantized"]), f"{entry['bytes']:,}"
        )
    stdout.print(types)
    census = Table(title="op census", title_justify="left")
    census.add_column("op")
    census.add_column("count", justify="right")
    for op, count in info["op_census"].items():
        census.add_row(op, str(count))
    stdout.print(census)
    meta = info["rnnx"]
    if meta is None:
        stdout.print("rnnx metadata: none (not exported by rnnx)")
        return
    task = meta["task"]
    stdout.print(
        f"task: {task['kind']}"
        + (f", labels {task['labels']}, threshold {task['threshold']}" if task.get("labels") else "")
    )
    tok = meta["tokenizer"]
    if tok:
        details = ", ".join(
            f"{key} {tok[key]}"
            for key in ("num_words", "max_tokens", "padding", "truncating", "normalize")
            if key in tok
        )
        stdout.print(f"tokenizer: {tok['type']} v{tok['version']}, {tok['vocabulary_size']} entries, {details}")
    step = meta.get("step") or {}
    if step.get("signature"):
        states = ", ".join(f"{s['input']} {s['shape']}" for s in step["states"])
        stdout.print(f"step signature: states {states}")
    else:
        stdout.print(f"step signature: none ({step.get('reason', 'not recorded')})")
    layers = (
        ", ".join(
            f"{layer['name']} ({layer['layer_class']}): {layer['lowering']}" for layer in meta["lowering"]["layers"]
        )
        or "none"
    )
    stdout.print(f"lowering: {layers}")
    quantization = meta.get("quantization") or {}
    if quantization.get("mode", "none") != "none":
        stdout.print(
            f"quantization: {quantization['mode']} ({quantization['form']} form"
            + (f"; calibrated on {quantization['representative']}" if quantization.get("representative") else "")
            + ("; integer inputs and outputs" if quantization.get("integer_io") else "")
            + ")"
        )
    else:
        stdout.print("quantization: none (float32)")
    prov = meta["provenance"]
    stdout.print(
        f"provenance: rnnx {prov['rnnx']}, TensorFlow {prov['tensorflow']}, Keras {prov['keras']}, "
        f"source {prov['source']} (sha256 {prov['source_sha256'][:16]}…), {prov['created_utc']}"
    )
