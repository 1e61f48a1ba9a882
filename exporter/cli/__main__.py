"""``python -m rnnx.exporter.cli``: the ``rnnx`` command, for environments without the console script."""

from rnnx.exporter.cli import main

main()
