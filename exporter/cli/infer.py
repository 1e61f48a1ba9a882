"""``rnnx infer``: classify texts with an exported model on the device (no TensorFlow)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from rnnx.exporter.cli._common import fail, handles_errors, stderr, stdin_is_piped, stdout
from rnnx.exporter.errors import EXIT_MISMATCH, InputFileError
from rnnx.models.data.texts import parse_text_lines, read_text_lines


def read_texts(path: Path | None, texts: list[str]) -> list[str]:
    """Texts from ``--text`` options, then from a file (``-`` = stdin): plain lines or JSON Lines with ``text``.

    Raises:
        InputFileError: an unreadable file, or a JSON line without a string ``text``.
    """
    collected = list(texts)
    if path is None and not collected and stdin_is_piped():
        path = Path("-")
    if path is None:
        return collected
    if str(path) == "-":
        return collected + parse_text_lines(sys.stdin.read().splitlines(), "stdin")
    return collected + read_text_lines(path)


def stream_texts(path: Path | None, texts: list[str]) -> Iterator[str]:
    """Texts for ``--stream``: the ``--text`` values, else the file's or stdin's lines as they arrive."""
    if texts:
        yield from texts
        return
    if path is not None and str(path) != "-":
        try:
            handle = path.open(encoding="utf-8")
        except OSError as err:
            raise InputFileError(f"cannot read {path}: {err.strerror}") from None
        with handle:
            yield from (line.rstrip("\n") for line in handle if line.strip())
        return
    yield from (line.rstrip("\n") for line in sys.stdin if line.strip())


def _running(predictor, outputs, output: str) -> dict:
    """What to print after a step: the probability and label, or the most likely next character."""
    task = predictor.metadata.task
    values = np.asarray(outputs[output], dtype=np.float64).reshape(-1)
    if task.get("kind") == "language_model" and predictor.tokenizer is not None:
        shifted = np.exp(values - values.max())
        best = int(np.argmax(values[1:])) + 1  # never <unk>
        return {"next": predictor.tokenizer.decode([best]), "probability": float(shifted[best] / shifted.sum())}
    labels, threshold = task.get("labels"), task.get("threshold")
    value = float(values[0])
    return {output: value, "label": labels[int(value >= threshold)] if labels else None}


def run_stream(predictor, texts: Iterable[str], json_output: bool, timing: bool) -> None:
    """Feed each text token by token through the step signature and print the running prediction."""
    stream = predictor.stream()
    output = predictor.metadata.task.get("output") or stream.output_names[0]
    sequences = 0
    for number, text in enumerate(texts, start=1):
        stream.reset()
        sequences += 1
        for step, (token, outputs) in enumerate(stream.push_text(text), start=1):
            shown = _running(predictor, outputs, output)
            if json_output:
                print(json.dumps({"sequence": number, "step": step, "token": token, **shown}), flush=True)
                continue
            if sequences == 1 and step == 1:
                print(f"{'seq':>3} {'step':>4}  {'token':<16} " + "  ".join(shown), flush=True)
            values = "  ".join(
                f"{v:.4f}" if isinstance(v, float) else repr(v) if v == " " else str(v or "") for v in shown.values()
            )
            print(
                f"{number:>3} {step:>4}  {token!r:<16} {values}"
                if token == " "
                else f"{number:>3} {step:>4}  {token:<16} {values}",
                flush=True,
            )
    if not sequences:
        raise fail("nothing to stream; give --text, --input FILE, or pipe texts on stdin")
    if timing:
        stderr.print(
            f"stream: {stream.total_steps} steps, {stream.microseconds_per_step:.1f} µs per step "
            f"(interpreter and tensor I/O, {predictor.runtime.describe()}, {predictor.num_threads} thread(s))"
        )


def run_sequences(predictor, model: Path, input_file, texts, json_output: bool, stream: bool, timing: bool) -> None:
    """Classify (or stream, step by step) the numeric sequences of ``input_file`` with a feature model."""
    from rnnx.exporter.runtime.sequences import read_sequences, stack_sequences

    if texts:
        raise fail(f"{model} takes numeric sequences, not texts; give --input FILE (.npy, .csv, .jsonl)")
    if input_file is None:
        raise fail(f"{model} takes numeric sequences; give --input FILE (.npy, .csv or .jsonl)")
    sequences = read_sequences(input_file)
    spec = predictor.metadata.input_spec()
    stack_sequences(sequences, spec["shape"][1], int(spec["shape"][2]), predictor.masks_padding)  # checks them all
    if stream:
        run_sequence_stream(predictor, sequences, json_output, timing)
        return
    results = predictor.classify_sequences(sequences)
    labels = predictor.metadata.task.get("labels") or []
    if json_output:
        rows = [
            {
                "sequence": i,
                "steps": len(seq),
                "label": r.label,
                "probability": r.probability,
                **({"probabilities": dict(zip(labels, r.probabilities))} if r.probabilities else {}),
            }
            for i, (seq, r) in enumerate(zip(sequences, results), start=1)
        ]
        stdout.print_json(json.dumps({"model": str(model), "predictions": rows}))
        return
    for i, (seq, r) in enumerate(zip(sequences, results), start=1):
        stdout.print(f"{r.probability:.4f}  {r.label:<18}  sequence {i} ({len(seq)} steps)")


def run_sequence_stream(predictor, sequences, json_output: bool, timing: bool) -> None:
    """Push each numeric sequence step by step through the step signature; print the running class."""
    stream = predictor.stream()
    task = predictor.metadata.task
    output = task.get("output") or stream.output_names[0]
    labels = task.get("labels") or []
    name = stream.input_names[0]
    if not json_output:
        print(f"{'seq':>3} {'step':>4}  {'label':<18} probability", flush=True)
    for number, sequence in enumerate(sequences, start=1):
        stream.reset()
        for step, values in enumerate(sequence, start=1):
            scores = np.asarray(stream.push({name: values[None, None, :]})[output], np.float64).reshape(-1)
            best = int(scores.argmax())
            label = labels[best] if best < len(labels) else str(best)
            if json_output:
                print(
                    json.dumps({"sequence": number, "step": step, "label": label, "probability": float(scores[best])})
                )
            else:
                print(f"{number:>3} {step:>4}  {label:<18} {scores[best]:.4f}", flush=True)
    if timing:
        stderr.print(
            f"stream: {stream.total_steps} steps, {stream.microseconds_per_step:.1f} µs per step "
            f"(interpreter and tensor I/O, {predictor.runtime.describe()}, {predictor.num_threads} thread(s))"
        )


@handles_errors
def infer_command(
    model: Annotated[Path, typer.Argument(help="An rnnx-exported .tflite file.")],
    text: Annotated[Optional[list[str]], typer.Option("--text", "-t", help="A text to classify; repeatable.")] = None,
    input_file: Annotated[
        Optional[Path],
        typer.Option(
            "--input",
            "-i",
            help="File of texts: one per line, or JSON Lines with a 'text' field; '-' for stdin. For a model of "
            "numeric sequences: .npy [n, T, channels], .csv (one sequence, a row per step), or .jsonl.",
        ),
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="Interpreter threads.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print the predictions as JSON.")] = False,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Run the step signature word by word and print the running prediction; each text (or stdin "
            "line, read as it arrives) is one sequence.",
        ),
    ] = False,
    timing: Annotated[bool, typer.Option("--timing", help="With --stream: report the cost per step.")] = False,
    generate: Annotated[
        Optional[str], typer.Option(help="Language models: continue this prefix, one character per step.")
    ] = None,
    length: Annotated[int, typer.Option(min=0, help="With --generate: characters to generate.")] = 200,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="With --generate: sampling temperature (0 = most likely character).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="With --generate: seed of the sampler (same seed, same text).")] = 0,
    selftest: Annotated[
        bool,
        typer.Option(
            "--selftest",
            help="Run the cases embedded at export and check this runtime reproduces them (exit 1 if not).",
        ),
    ] = False,
) -> None:
    """Classify texts, stream them, or generate text with the device predictor (numpy + LiteRT, no TensorFlow)."""
    from rnnx.exporter.runtime.predictor import Predictor

    if selftest:
        from rnnx.exporter.runtime.selftest import run_selftest

        result = run_selftest(Predictor(model, num_threads=threads))
        verdict = "PASS" if result.passed else "FAIL"
        if json_output:
            print(json.dumps({"model": str(model), **result.__dict__}))
        else:
            print(
                f"selftest {verdict}: {result.cases} recorded cases on {result.runtime}, max |err| "
                f"{result.max_abs_error:.2e} (allowed {result.atol:g} + {result.rtol:g}·scale of the row)"
            )
        if not result.passed:
            raise typer.Exit(EXIT_MISMATCH)
        return
    if generate is not None:
        predictor = Predictor(model, num_threads=threads)
        text = predictor.generate(generate, length, temperature, seed)
        if json_output:
            print(
                json.dumps(
                    {"model": str(model), "prefix": generate, "temperature": temperature, "seed": seed, "text": text}
                )
            )
        else:
            print(text)
        return

    if timing and not stream:
        raise fail("--timing goes with --stream")
    predictor = Predictor(model, num_threads=threads)
    if predictor.takes_features:
        run_sequences(predictor, model, input_file, text or [], json_output, stream, timing)
        return
    if stream:
        run_stream(predictor, stream_texts(input_file, text or []), json_output, timing)
        return
    if input_file is not None and input_file.suffix.lower() in (".npy", ".npz", ".csv"):
        raise fail(f"{model} classifies texts; {input_file} holds numbers (numeric files are for sensor models)")
    texts = read_texts(input_file, text or [])
    if not texts:
        raise fail("nothing to classify; give --text, --input FILE, or pipe texts on stdin")
    results = predictor.classify(texts)
    if json_output:
        rows = [{"text": t, "probability": r.probability, "label": r.label} for t, r in zip(texts, results)]
        stdout.print_json(json.dumps({"model": str(model), "predictions": rows}))
        return
    for t, r in zip(texts, results):
        preview = t if len(t) <= 70 else t[:67] + "..."
        stdout.print(f"{r.probability:.4f}  {r.label:<8}  {preview}")
