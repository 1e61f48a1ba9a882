"""The verification report: data first, views second.

A :class:`VerifyReport` holds every check with its metrics and, for the checks that compare
values, the compared outputs themselves. It serializes to a versioned JSON document
(:meth:`VerifyReport.to_dict`, :func:`save_report`) from which :func:`recheck` re-judges every
check against other tolerances without running any model. The terminal table (the CLI) and the
PNG of the error along the time steps (:func:`plot_error_by_step`) are rendered from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError
from rnnx.exporter.runtime.arrays import decode_array, encode_array
from rnnx.exporter.tolerances import Tolerance
from rnnx.exporter.verification.metrics import OutputMetrics, output_metrics, perplexity

REPORT_FORMAT = "rnnx.verify_report"
REPORT_VERSION = 2


@dataclass(frozen=True)
class Compared:
    """The arrays a values check compared, kept so that the check can be re-judged later.

    Attributes:
        outputs: output name → ``(reference, converted)`` arrays ``[rows, …]``.
        time_axis: output name → whether axis 1 is time.
        labels: true labels (binary classifiers), or ``None``.
        targets: next-token ids (language models), or ``None``.
        threshold: decision threshold (binary classifiers), or ``None``.
        top1: decisions are the most likely class of the first output.
    """

    outputs: dict[str, tuple[np.ndarray, np.ndarray]]
    time_axis: dict[str, bool]
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    threshold: float | None = None
    top1: bool = False

    def to_dict(self) -> dict:
        return {
            "outputs": {
                name: {
                    "reference": encode_array(ref),
                    "converted": encode_array(conv),
                    "time_axis": self.time_axis[name],
                }
                for name, (ref, conv) in self.outputs.items()
            },
            "labels": None if self.labels is None else encode_array(self.labels),
            "targets": None if self.targets is None else encode_array(self.targets),
            "threshold": self.threshold,
            "top1": self.top1,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Compared:
        outputs = {n: (decode_array(o["reference"]), decode_array(o["converted"])) for n, o in data["outputs"].items()}
        return cls(
            outputs,
            {n: bool(o["time_axis"]) for n, o in data["outputs"].items()},
            None if data.get("labels") is None else decode_array(data["labels"]),
            None if data.get("targets") is None else decode_array(data["targets"]),
            data.get("threshold"),
            bool(data.get("top1")),
        )


@dataclass(frozen=True)
class CheckResult:
    """One check of the converted model.

    Attributes:
        name: e.g. ``"real reviews"``, ``"step vs sequence"``, ``"same input twice"``, ``"length 64"``.
        kind: ``"values"`` (Keras against the ``.tflite`` file) or ``"consistency"`` (the file
            against itself: step against sequence, state between invocations).
        rows: input rows compared.
        seed: the seed that chose or drew the inputs.
        outputs: metrics per output.
        decision_agreement: share of agreeing decisions (threshold side or top-1), or ``None``.
        metric, reference_metric, converted_metric: the task metric (``"accuracy"`` or
            ``"perplexity"``) of each side, or ``None``.
        passed: every output within the tolerance and every decision agreeing.
        divergence: where the outputs start to differ, when they do: ``{"layer", "time_step",
            "max_abs"}`` (from the recurrent layers' outputs), else ``None``.
        note: a sentence for people (why a check was skipped or what it means).
        compared: the compared arrays (values and consistency checks), for :func:`recheck`.
    """

    name: str
    kind: str
    rows: int
    seed: int | None
    outputs: tuple[OutputMetrics, ...]
    decision_agreement: float | None = None
    metric: str | None = None
    reference_metric: float | None = None
    converted_metric: float | None = None
    passed: bool = True
    divergence: dict | None = None
    note: str | None = None
    compared: Compared | None = field(default=None, repr=False)

    @property
    def max_abs_error(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def mean_abs_error(self) -> float:
        return float(np.mean([o.mean_abs for o in self.outputs])) if self.outputs else 0.0

    @property
    def smallest_atol(self) -> float:
        """The smallest ``atol`` that would have passed the values (with the same ``rtol``)."""
        return max((o.smallest_atol for o in self.outputs), default=0.0)

    def to_dict(self, with_arrays: bool = True) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "seed": self.seed,
            "passed": self.passed,
            "max_abs_error": self.max_abs_error,
            "smallest_atol": self.smallest_atol,
            "decision_agreement": self.decision_agreement,
            "metric": self.metric,
            "reference_metric": self.reference_metric,
            "converted_metric": self.converted_metric,
            "divergence": self.divergence,
            "note": self.note,
            "outputs": [o.to_dict() for o in self.outputs],
            "compared": self.compared.to_dict() if (with_arrays and self.compared is not None) else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CheckResult:
        return cls(
            name=data["name"],
            kind=data["kind"],
            rows=data["rows"],
            seed=data.get("seed"),
            outputs=tuple(OutputMetrics(**o) for o in data["outputs"]),
            decision_agreement=data.get("decision_agreement"),
            metric=data.get("metric"),
            reference_metric=data.get("reference_metric"),
            converted_metric=data.get("converted_metric"),
            passed=bool(data["passed"]),
            divergence=data.get("divergence"),
            note=data.get("note"),
            compared=Compared.from_dict(data["compared"]) if data.get("compared") else None,
        )


def judge(name: str, kind: str, compared: Compared, tolerance: Tolerance, seed: int | None, **extra) -> CheckResult:
    """Compute the metrics and the verdict of a check from its compared arrays.

    Decisions: for a binary classifier, the side of the threshold of the first output's first
    value; for a language model or a multi-class classifier (``top1``), the most likely class of
    the first output's last axis. Task metrics: accuracy against ``labels``, perplexity of
    ``targets``.
    """
    metrics = tuple(
        output_metrics(n, ref, conv, tolerance, compared.time_axis[n]) for n, (ref, conv) in compared.outputs.items()
    )
    agreement = metric = ref_metric = conv_metric = None
    if compared.outputs:
        first_ref, first_conv = next(iter(compared.outputs.values()))
        rows = len(first_ref)
        if compared.threshold is not None:
            ref_side = np.asarray(first_ref).reshape(rows, -1)[:, 0] >= compared.threshold
            conv_side = np.asarray(first_conv).reshape(rows, -1)[:, 0] >= compared.threshold
            agreement = float(np.mean(ref_side == conv_side))
            if compared.labels is not None:
                metric = "accuracy"
                truth = np.asarray(compared.labels).astype(bool)
                ref_metric, conv_metric = float(np.mean(ref_side == truth)), float(np.mean(conv_side == truth))
        elif compared.top1:
            agreement = float(np.mean(np.argmax(first_ref, -1) == np.argmax(first_conv, -1)))
            if compared.labels is not None:  # a multi-class classifier: the most likely class
                metric = "accuracy"
                truth = np.asarray(compared.labels)
                ref_metric = float(np.mean(np.argmax(first_ref, -1) == truth))
                conv_metric = float(np.mean(np.argmax(first_conv, -1) == truth))
            elif compared.targets is not None:
                metric = "perplexity"
                ref_metric = perplexity(first_ref, compared.targets)
                conv_metric = perplexity(first_conv, compared.targets)
    passed = all(m.within for m in metrics) and (agreement is None or agreement >= tolerance.min_agreement)
    rows = len(next(iter(compared.outputs.values()))[0]) if compared.outputs else 0
    return CheckResult(
        name, kind, rows, seed, metrics, agreement, metric, ref_metric, conv_metric, passed, compared=compared, **extra
    )


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``verify_model``; serializable with :meth:`to_dict`, re-judged by :func:`recheck`.

    Attributes:
        reference, converted: the two model files.
        runtime: ``{"name", "version", "threads", "xnnpack"}`` of the interpreter used.
        tolerance: the tolerance applied; ``tolerance_source`` says where it came from.
        checks: every check, in the order run.
        seed: the seed of the run.
        environment: versions and machine.
        lowering: the file's lowering per layer (from its metadata).
    """

    reference: str
    converted: str
    runtime: dict
    tolerance: Tolerance
    tolerance_source: str
    checks: tuple[CheckResult, ...]
    seed: int
    environment: dict
    lowering: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def to_dict(self, with_arrays: bool = True) -> dict:
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "passed": self.passed,
            "reference": self.reference,
            "converted": self.converted,
            "runtime": self.runtime,
            "tolerance": {
                "atol": self.tolerance.atol,
                "rtol": self.tolerance.rtol,
                "statistic": self.tolerance.statistic,
                "min_agreement": self.tolerance.min_agreement,
                "reason": self.tolerance.reason,
                "source": self.tolerance_source,
            },
            "seed": self.seed,
            "lowering": self.lowering,
            "checks": [check.to_dict(with_arrays) for check in self.checks],
            "environment": self.environment,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "report") -> VerifyReport:
        """Parse a saved report.

        Raises:
            InputFileError: when ``data`` is not an rnnx verification report of this version.
        """
        if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
            raise InputFileError(f"{source} is not an rnnx verification report")
        if data.get("version") != REPORT_VERSION:
            raise InputFileError(
                f"{source} is a version {data.get('version')!r} report; this rnnx reads version {REPORT_VERSION}"
            )
        try:
            tolerance = data["tolerance"]
            return cls(
                reference=data["reference"],
                converted=data["converted"],
                runtime=data["runtime"],
                tolerance=Tolerance(
                    tolerance["atol"],
                    tolerance["rtol"],
                    tolerance["reason"],
                    tolerance.get("statistic", "max"),
                    tolerance.get("min_agreement", 1.0),
                ),
                tolerance_source=tolerance["source"],
                checks=tuple(CheckResult.from_dict(c) for c in data["checks"]),
                seed=data["seed"],
                environment=data["environment"],
                lowering=data.get("lowering", []),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InputFileError(f"{source} is a damaged verification report ({err})") from None


def recheck(report: VerifyReport, atol: float | None = None, rtol: float | None = None) -> VerifyReport:
    """Judge a saved report again against other tolerances, without running any model.

    Every check that kept its compared arrays is recomputed; the others (a check that only
    records a note) keep their verdict.
    """
    tolerance = replace(
        report.tolerance,
        atol=report.tolerance.atol if atol is None else atol,
        rtol=report.tolerance.rtol if rtol is None else rtol,
        reason=report.tolerance.reason if atol is None and rtol is None else "given to --recheck",
    )
    checks = []
    for check in report.checks:
        if check.compared is None:
            checks.append(check)
            continue
        again = judge(check.name, check.kind, check.compared, tolerance, check.seed, note=check.note)
        checks.append(replace(again, divergence=check.divergence if not again.passed else None))
    source = report.tolerance_source if atol is None and rtol is None else "recheck"
    return replace(report, tolerance=tolerance, tolerance_source=source, checks=tuple(checks))


def save_report(report: VerifyReport, path: str | Path) -> None:
    """Write the report as JSON (with the compared arrays), whole or not at all."""
    from rnnx.exporter.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(report.to_dict(), indent=1) + "\n")


def load_report(path: str | Path) -> VerifyReport:
    """Read a report written by :func:`save_report`.

    Raises:
        InputFileError: a missing, unreadable or foreign file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFileError(f"cannot read {path} as a JSON report: {err}") from None
    return VerifyReport.from_dict(data, str(path))


def error_curves(report: VerifyReport) -> dict[str, list[float]]:
    """Every error-by-time-step curve of the report, labelled ``"<check>: <output>"``."""
    curves = {}
    for check in report.checks:
        for output in check.outputs:
            if output.error_by_step and max(output.error_by_step) > 0:
                curves[f"{check.name}: {output.name}"] = output.error_by_step
    return curves


def plot_error_by_step(report: VerifyReport, path: str | Path) -> bool:
    """Write a PNG of the largest absolute error at each time step (log scale), with the tolerance.

    Returns:
        ``False`` (and writes nothing) when no check has a time axis.
    """
    curves = error_curves(report)
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for label, values in curves.items():
        floor = np.maximum(np.asarray(values, dtype=np.float64), 1e-12)
        axis.plot(range(len(values)), floor, label=label, linewidth=1.2)
    axis.axhline(
        report.tolerance.atol, color="grey", linestyle="--", linewidth=1, label=f"atol {report.tolerance.atol:g}"
    )
    axis.set_yscale("log")
    axis.set_xlabel("time step")
    axis.set_ylabel("max |keras − tflite|")
    axis.set_title(f"error along the sequence: {Path(report.converted).name}")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
