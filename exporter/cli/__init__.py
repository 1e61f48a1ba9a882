"""The ``rnnx`` command line: a thin layer over the library.

Each command parses its options, calls one library function, renders what it returns and maps it
to an exit code (0 success, 1 mismatch, 2 bad usage or input). Heavy imports (TensorFlow, Keras)
happen inside the commands that need them, so ``rnnx --help``, ``rnnx infer`` and
``rnnx inspect`` run on a device without TensorFlow.
"""

from __future__ import annotations

import typer

from rnnx.exporter.cli import export, infer, inspect, train, verify

app = typer.Typer(
    name="rnnx",
    help="Export recurrent Keras models (SimpleRNN, GRU, LSTM) to LiteRT, verify them, run them on devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(train.app, name="train")
app.command("export")(export.export_command)
app.command("verify")(verify.verify_command)
app.command("infer")(infer.infer_command)
app.command("inspect")(inspect.inspect_command)


def main() -> None:
    """Console-script entry point."""
    app()
