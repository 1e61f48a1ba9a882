"""What every command shares: turning rnnx errors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from rnnx.exporter.errors import EXIT_BAD_INPUT, RnnxError

# Markup is off by default: file names, shapes like [1, 24] and messages print literally.
stdout = Console(highlight=False, soft_wrap=True, markup=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
EXIT_INTERNAL = 3


def quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up chatter (CUDA probing, absl notices) kept off the terminal.

    Python exceptions still propagate; what the libraries printed is shown only if the import fails.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rnnx.exporter.runtime.native_output import capture_native_stderr

    try:
        with capture_native_stderr() as log:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
    except Exception:
        sys.stderr.write(log.text)
        raise


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


def handles_errors(command):
    """Decorator: an :class:`RnnxError` becomes one ``error:`` line and its exit code.

    Any other exception is a bug: one line, exit code 3, and the traceback only with
    ``RNNX_DEBUG=1``.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RnnxError as err:
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except BrokenPipeError:
            # The reader went away (`rnnx infer … | head`): stop quietly, as command-line tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as err:
            if os.environ.get("RNNX_DEBUG"):
                raise
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise fail(
                f"internal error ({type(err).__name__}: {message}); rerun with RNNX_DEBUG=1 for the traceback "
                "and report it",
                EXIT_INTERNAL,
            ) from None

    return wrapper


def require_training_stack(command: str) -> None:
    """Fail with a clear message when TensorFlow/Keras are not installed."""
    import importlib.util

    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except ImportError:
            return True

    missing = [name for name in ("tensorflow", "keras") if absent(name)]
    if missing:
        raise fail(
            f"`rnnx {command}` needs {' and '.join(missing)}; install the desktop extra: pip install 'rnnx[train]'"
        )


def stdin_is_piped() -> bool:
    return not sys.stdin.isatty()
