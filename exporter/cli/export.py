"""``rnnx export``: Keras model → ``.tflite`` with lowered recurrent layers and embedded metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rnnx.exporter.cli._common import fail, handles_errors, quiet_tensorflow, require_training_stack, stdout
from rnnx.exporter.lowering import Lowering
from rnnx.exporter.quantization import REPRESENTATIVE_SEQUENCES, Quantization


def parse_layer_lowerings(values: list[str]) -> dict[str, str]:
    """``["gru_1=unrolled"]`` → ``{"gru_1": "unrolled"}``."""
    parsed = {}
    for value in values:
        name, sep, lowering = value.partition("=")
        if not sep or not name or lowering not in {c.value for c in Lowering}:
            raise fail(
                f"--layer-lowering expects LAYER=LOWERING with LOWERING one of "
                f"{', '.join(c.value for c in Lowering)}, got {value!r}"
            )
        parsed[name] = lowering
    return parsed


def plan_table(plan) -> Table:
    table = Table(title="recurrent layers", title_justify="left")
    for column in ("layer", "class", "cell", "mask", "lowering", "why"):
        table.add_column(column)
    for layer in plan.layers:
        mask = "yes" if layer.masked else "no"
        table.add_row(layer.name, layer.layer_class, layer.cell, mask, layer.lowering.value, layer.reason)
    return table


def census_table(census: dict[str, int]) -> Table:
    table = Table(title="op census", title_justify="left")
    table.add_column("op")
    table.add_column("count", justify="right")
    for op, count in census.items():
        table.add_row(op, str(count))
    return table


@handles_errors
def export_command(
    model: Annotated[Path, typer.Argument(help="Keras model file (.keras or legacy .h5).")],
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="The .tflite file to write. Default: MODEL with .tflite suffix."),
    ] = None,
    lowering: Annotated[
        Lowering,
        typer.Option(
            help="How recurrent layers are lowered: auto (each layer's fastest exact form), fused (one "
            "UNIDIRECTIONAL_SEQUENCE_LSTM/RNN op), unrolled (ops repeated per time step), loop (one WHILE op) or "
            "stepped (only the step signature; the predictor runs the time steps: the form of integer GRUs)."
        ),
    ] = Lowering.AUTO,
    layer_lowering: Annotated[
        Optional[list[str]], typer.Option(help="Per-layer override, LAYER=LOWERING; repeatable.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size pinned in the signature.")] = 1,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="Leave the batch size dynamic (loop and unrolled lowerings).")
    ] = False,
    dynamic_length: Annotated[
        bool,
        typer.Option(
            "--dynamic-length", help="Leave the sequence length dynamic (loop lowering; model input shape=(None, ...))."
        ),
    ] = False,
    sequence_length: Annotated[
        Optional[int],
        typer.Option(
            min=1, help="Time steps when the model's input length is dynamic (default: the tokenizer's max_tokens)."
        ),
    ] = None,
    tokenizer: Annotated[
        Optional[Path], typer.Option(help="Tokenizer JSON to embed (default: tokenizer.json beside MODEL).")
    ] = None,
    task: Annotated[
        Optional[Path], typer.Option(help="Task JSON with labels (default: task.json beside MODEL).")
    ] = None,
    labels: Annotated[
        Optional[str], typer.Option(help="Label names of a binary classifier, e.g. negative,positive.")
    ] = None,
    quantize: Annotated[
        Quantization,
        typer.Option(help="none, float16 (weights), dynamic (int8 weights), int8 (full integer), int16x8."),
    ] = Quantization.NONE,
    representative_data: Annotated[
        Optional[Path],
        typer.Option(
            help="Calibration inputs for int8/int16x8: rows (.npy) or texts; default: the model's training data."
        ),
    ] = None,
    representative_samples: Annotated[
        int, typer.Option(min=1, help="Calibration sequences for int8/int16x8.")
    ] = REPRESENTATIVE_SEQUENCES,
    integer_io: Annotated[
        bool, typer.Option("--integer-io", help="int8/int16x8: integer inputs and outputs (the predictor converts).")
    ] = False,
    data: Annotated[
        Optional[str], typer.Option(help="Where the training data is (IMDB folder or corpus), for calibration.")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Print the plan (each recurrent layer's lowering and why) without converting."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process",
            help="Convert in this process instead of a child process (a converter crash then ends rnnx).",
        ),
    ] = False,
) -> None:
    """Convert a Keras model to a .tflite (LiteRT) file with builtin ops only."""
    require_training_stack("export")
    quiet_tensorflow()
    from rnnx.exporter.export import ExportOptions, explain_export, export_model

    label_names = tuple(part.strip() for part in labels.split(",")) if labels else None
    options = ExportOptions(
        lowering=lowering,
        layer_lowerings={k: Lowering(v) for k, v in parse_layer_lowerings(layer_lowering or []).items()},
        batch_size=None if dynamic_batch else batch_size,
        sequence_length=sequence_length,
        dynamic_length=dynamic_length,
        tokenizer=tokenizer,
        task=task,
        labels=label_names,
        quantize=quantize,
        representative_data=representative_data,
        representative_samples=representative_samples,
        integer_io=integer_io,
        data=data,
        isolate=not in_process,
    )
    if explain:
        plan = explain_export(model, options)
        if json_output:
            stdout.print_json(json.dumps(plan.to_dict()))
            return
        inputs = ", ".join(f"{i.name} {i.dtype}{list(i.shape)}" for i in plan.inputs)
        stdout.print(f"plan for {model} (inputs: {inputs}); nothing converted")
        stdout.print(plan_table(plan))
        for note in plan.notes:
            stdout.print(f"note: {note}")
        return
    output = output or model.with_suffix(".tflite")
    result = export_model(model, output, options)
    if json_output:
        stdout.print_json(
            json.dumps(
                {
                    "output": str(result.output),
                    "size_bytes": result.size_bytes,
                    "op_census": result.op_census,
                    "plan": result.plan.to_dict(),
                }
            )
        )
        return
    stdout.print(plan_table(result.plan))
    stdout.print(census_table(result.op_census))
    quantization = result.metadata.quantization or {}
    if quantization.get("mode", "none") != "none":
        stdout.print(
            f"quantized {quantization['mode']} ({quantization['form']} form: {quantization['reason']})"
            + (f"; calibrated on {quantization['representative']}" if quantization.get("representative") else "")
        )
    stdout.print(f"wrote {result.output} ({result.size_bytes:,} bytes); op census matches the plan")
