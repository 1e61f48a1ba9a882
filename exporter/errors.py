"""Errors that rnnx raises on purpose, each with the exit code the CLI maps it to.

Every message is one line that says what is wrong and what to do about it. The CLI prints
``error: <message>`` and exits with :attr:`RnnxError.exit_code`; it never shows a traceback
for these. Anything else that escapes is a bug in rnnx.

Exit codes follow one convention across commands:

* 0: success (for ``verify``: every check passed),
* 1: the converted model does not compute what the original computes (:class:`MismatchError`),
* 2: bad usage or bad input: a missing or corrupt file, a wrong option, an unsupported layer.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2


class RnnxError(Exception):
    """Base class of the errors rnnx raises deliberately (exit code 2)."""

    exit_code: int = EXIT_BAD_INPUT


class InputFileError(RnnxError):
    """A file or folder given to rnnx is missing, unreadable, corrupt or of the wrong kind."""


class InvalidInputError(RnnxError):
    """An input given to a model is unusable: an empty text, a wrong shape or dtype."""


class DataNotFoundError(RnnxError):
    """No dataset was found; the message lists every place that was tried."""


class UnsupportedModelError(RnnxError):
    """The model (or one of its layers) cannot be exported as asked.

    The message names the layer, the attribute that prevents it, and what would work instead.
    """


class ConversionError(RnnxError):
    """The TFLite converter failed, crashed, or produced something other than what was planned."""


class MissingDependencyError(RnnxError):
    """An optional dependency (TensorFlow for ``train``/``export``/``verify``, an interpreter) is absent."""


class MismatchError(RnnxError):
    """The converted model's results differ from the original beyond tolerance (exit code 1)."""

    exit_code = EXIT_MISMATCH
