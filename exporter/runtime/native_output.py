"""Capturing what native libraries write straight to the process's stderr (file descriptor 2).

TensorFlow and the LiteRT interpreter log from C++ (``INFO: Created TensorFlow Lite XNNPACK
delegate``, CUDA probing on machines without a GPU) before any Python logging setting applies.
rnnx keeps that off the terminal and shows it only when something fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


class Captured:
    """Text written to fd 2 inside :func:`capture_native_stderr` (available after the block)."""

    text: str = ""


@contextlib.contextmanager
def capture_native_stderr() -> Iterator[Captured]:
    """Redirect file descriptor 2 to a temporary file for the duration of the block."""
    captured = Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
