"""Training-curve plots (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_history(
    history: Mapping[str, Sequence[float]], path: str | Path, title: str, best_epoch: int | None = None
) -> None:
    """Write a PNG with loss and accuracy per epoch, training and validation.

    Args:
        history: Keras ``History.history`` (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).
        path: the PNG to write.
        title: figure title.
        best_epoch: 1-based epoch whose weights were kept, marked with a dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(range(1, len(values) + 1), values, marker="o", label=label)
        if best_epoch is not None:
            axis.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept (epoch {best_epoch})")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_perplexity(history: Mapping[str, Sequence[float | None]], path: str | Path, title: str) -> None:
    """Write a PNG of training perplexity per epoch and the held-out perplexity where measured (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axis = plt.subplots(figsize=(6, 4))
    train = history.get("perplexity") or []
    axis.plot(range(1, len(train) + 1), train, label="training")
    held = [(i + 1, v) for i, v in enumerate(history.get("heldout_perplexity") or []) if v is not None]
    if held:
        axis.plot(*zip(*held), marker="o", label="held-out")
    axis.set_yscale("log")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("perplexity")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
