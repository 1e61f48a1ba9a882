"""``rnnx verify``: compare a ``.tflite`` file with the Keras model it came from."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rnnx.exporter.cli._common import fail, handles_errors, quiet_tensorflow, require_training_stack, stdout
from rnnx.exporter.errors import EXIT_MISMATCH

REPORT_JSON = "verify_report.json"
REPORT_TEXT = "verify_report.txt"
REPORT_PLOT = "error_by_step.png"


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
    for column in ("check", "rows", "max err", "min atol", "agree", "keras", "tflite", "ok"):
        table.add_column(column, justify="left" if column in ("check", "ok") else "right", no_wrap=True)
    for check in report.checks:
        table.add_row(
            check.name,
            str(check.rows),
            f"{check.max_abs_error:.2e}",
            f"{check.smallest_atol:.1e}",
            _percent(check.decision_agreement),
            _metric(check.metric, check.reference_metric),
            _metric(check.metric, check.converted_metric),
            Text("pass", style="green") if check.passed else Text("FAIL", style="bold red"),
        )
    return table


def report_lines(report) -> list[str]:
    """What follows the table: where differences start, the tolerance, the runtime, the verdict."""
    lines = []
    for check in report.checks:
        where = check.divergence
        if where and where.get("layer"):
            step = where["time_step"]
            at = "at the last output" if step == "final" else f"from time step {step}"
            lines.append(
                f"{check.name}: the difference starts in layer `{where['layer']}` {at} (max {where['max_abs']:.2e})"
            )
        elif where:
            lines.append(f"{check.name}: {where.get('note')}")
    tol = report.tolerance
    lines.append(
        f"tolerance: |err| <= {tol.atol:g} + {tol.rtol:g}·scale of the row ({report.tolerance_source}: {tol.reason})"
    )
    runtime = report.runtime
    lines.append(
        f"runtime: {runtime['name']} {runtime['version']}, {runtime['threads']} thread(s), "
        f"XNNPACK {'on' if runtime['xnnpack'] else 'off'}"
    )
    return lines


def render(report, console: Console) -> None:
    console.print(report_table(report))
    for line in report_lines(report):
        console.print(line)
    if report.passed:
        console.print(Text("PASS", style="bold green"), "the converted model matches the Keras model")
    else:
        failed = ", ".join(check.name for check in report.checks if not check.passed)
        console.print(Text("FAIL", style="bold red"), f"the converted model does not match the Keras model ({failed})")


def write_reports(report, folder: Path) -> list[Path]:
    """JSON (with the compared arrays), text and PNG reports in ``folder``."""
    from rnnx.exporter.fileio import atomic_write_text
    from rnnx.exporter.verification import plot_error_by_step, save_report

    folder.mkdir(parents=True, exist_ok=True)
    save_report(report, folder / REPORT_JSON)
    recorder = Console(record=True, width=110, highlight=False, markup=False, file=io.StringIO())
    render(report, recorder)
    atomic_write_text(folder / REPORT_TEXT, recorder.export_text())
    written = [folder / REPORT_JSON, folder / REPORT_TEXT]
    if plot_error_by_step(report, folder / REPORT_PLOT):
        written.append(folder / REPORT_PLOT)
    return written


@handles_errors
def verify_command(
    keras_model: Annotated[Optional[Path], typer.Argument(help="The source Keras model (.keras or .h5).")] = None,
    tflite_model: Annotated[Optional[Path], typer.Argument(help="The .tflite file exported from it.")] = None,
    data: Annotated[
        Optional[str],
        typer.Option(help="Real held-out data: the IMDB location, or the language model's corpus file or folder."),
    ] = None,
    samples: Annotated[int, typer.Option(min=0, help="Real held-out rows to compare.")] = 300,
    random: Annotated[int, typer.Option("--random", min=0, help="Random input rows to compare.")] = 100,
    atol: Annotated[
        Optional[float], typer.Option(min=0.0, help="Absolute tolerance (default: the tolerance table).")
    ] = None,
    rtol: Annotated[
        Optional[float], typer.Option(min=0.0, help="Relative tolerance (default: the tolerance table).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for choosing real rows and drawing random inputs.")] = 0,
    runtime: Annotated[
        Optional[str], typer.Option(help="Interpreter: ai-edge-litert (default) or tflite-runtime.")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="Interpreter threads.")] = 1,
    xnnpack: Annotated[bool, typer.Option(help="Use the XNNPACK delegate.")] = True,
    all_runtimes: Annotated[
        bool,
        typer.Option(
            "--all-runtimes", help="Also check every installed runtime, with and without XNNPACK, 1 and all threads."
        ),
    ] = False,
    output_dir: Annotated[
        Optional[Path],
        typer.Option("--output-dir", "-o", help=f"Write {REPORT_JSON}, {REPORT_TEXT} and {REPORT_PLOT} here."),
    ] = None,
    recheck_report: Annotated[
        Optional[Path],
        typer.Option(
            "--recheck", help="Judge a saved verify_report.json again (with --atol/--rtol), without the models."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON (without the arrays).")] = False,
) -> None:
    """Check that the .tflite file computes what the Keras model computes. Exit 0 pass, 1 mismatch, 2 bad input."""
    if recheck_report is not None:
        from rnnx.exporter.verification.report import load_report, recheck

        report = recheck(load_report(recheck_report), atol, rtol)
    else:
        if keras_model is None or tflite_model is None:
            raise fail(
                "give the Keras model and the .tflite file: rnnx verify MODEL.keras MODEL.tflite (or --recheck REPORT)"
            )
        if keras_model.suffix.lower() == ".tflite" and tflite_model.suffix.lower() in (".keras", ".h5", ".hdf5"):
            raise fail("the two files are swapped; the order is: rnnx verify MODEL.keras MODEL.tflite")
        require_training_stack("verify")
        quiet_tensorflow()
        from rnnx.exporter.verification import verify_model

        report = verify_model(
            keras_model,
            tflite_model,
            data=data,
            samples=samples,
            random_samples=random,
            atol=atol,
            rtol=rtol,
            seed=seed,
            runtime=runtime,
            threads=threads,
            xnnpack=xnnpack,
            all_runtimes=all_runtimes,
        )
    if json_output:
        stdout.print_json(json.dumps(report.to_dict(with_arrays=False)))
    else:
        render(report, stdout)
    if output_dir is not None:
        written = write_reports(report, output_dir)
        if not json_output:
            stdout.print("wrote " + ", ".join(str(p) for p in written))
    if not report.passed:
        raise typer.Exit(EXIT_MISMATCH)
