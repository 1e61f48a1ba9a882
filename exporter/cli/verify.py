"""``rnnx verify``: compare a ``.tflite`` file with the Keras model it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from rnnx.exporter.cli._common import fail, handles_errors, quiet_tensorflow, require_training_stack, stdout
from rnnx.exporter.errors import EXIT_MISMATCH


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _metric(name: str | None, value: float | None) -> str:
    if name is None or value is None:
        return "n/a"
    return f"acc {value:.1%}" if name == "accuracy" else f"ppl {value:.2f}"


def report_table(report) -> Table:
    """The checks as a compact table (fits 80 columns)."""
    table = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
        title=f"{report.converted} vs {report.reference}",
        title_justify="left",
    )
    for column in ("check", "rows", "max err", "mean err", "agree", "keras", "tflite", "ok"):
        table.add_column(column, justify="left" if column in ("check", "ok") else "right", no_wrap=True)
    for check in report.checks:
        table.add_row(
            check.name,
            str(check.samples),
            f"{check.max_abs_error:.2e}",
            f"{check.mean_abs_error:.2e}",
            _percent(check.decision_agreement),
            _metric(check.metric, check.reference_metric),
            _metric(check.metric, check.converted_metric),
            Text("pass", style="green") if check.passed else Text("FAIL", style="bold red"),
        )
    return table


@handles_errors
def verify_command(
    keras_model: Annotated[Path, typer.Argument(help="The source Keras model (.keras or .h5).")],
    tflite_model: Annotated[Path, typer.Argument(help="The .tflite file exported from it.")],
    data: Annotated[
        Optional[str], typer.Option(help="IMDB location for real held-out reviews (see `rnnx train sentiment --help`).")
    ] = None,
    samples: Annotated[int, typer.Option(min=0, help="Real test reviews to compare.")] = 300,
    random: Annotated[int, typer.Option("--random", min=0, help="Random token sequences to compare.")] = 100,
    atol: Annotated[
        Optional[float], typer.Option(min=0.0, help="Absolute tolerance (default: the tolerance table).")
    ] = None,
    rtol: Annotated[
        Optional[float], typer.Option(min=0.0, help="Relative tolerance (default: the tolerance table).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for choosing reviews and random inputs.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check that the .tflite file computes what the Keras model computes. Exit 0 pass, 1 mismatch, 2 bad input."""
    if keras_model.suffix.lower() == ".tflite" and tflite_model.suffix.lower() in (".keras", ".h5", ".hdf5"):
        raise fail("the two files are swapped; the order is: rnnx verify MODEL.keras MODEL.tflite")
    require_training_stack("verify")
    quiet_tensorflow()
    from rnnx.exporter.verify import verify_model

    report = verify_model(
        keras_model, tflite_model, data=data, samples=samples, random_samples=random, atol=atol, rtol=rtol, seed=seed
    )
    if json_output:
        stdout.print_json(json.dumps(report.to_dict()))
    else:
        stdout.print(report_table(report))
        stdout.print(
            f"tolerance: |err| <= {report.tolerance.atol:g} + {report.tolerance.rtol:g}·scale of the row "
            f"({report.tolerance_source}: {report.tolerance.reason}); runtime {report.runtime}"
        )
        if report.passed:
            stdout.print(Text("PASS", style="bold green"), "the converted model matches the Keras model")
        else:
            stdout.print(Text("FAIL", style="bold red"), "the converted model does not match the Keras model")
    if not report.passed:
        raise typer.Exit(EXIT_MISMATCH)
