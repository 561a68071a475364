"""Quick plots of a training run, saved as PNG files (matplotlib from the ``plot`` extra).

Figures are drawn with matplotlib's object API on an Agg canvas, so no display is needed and
the global pyplot state of the caller is never touched. Without matplotlib every function raises
``PlotUnavailableError`` (an ``ImportError``) saying how to install it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinynet._version import install_hint
from tinynet.core.checks import Array
from tinynet.core.files import atomic_write_bytes
from tinynet.training.callbacks import History

INSTALL_HINT = install_hint("plot")


class PlotUnavailableError(ImportError):
    """matplotlib is not installed."""


def _figure(width: float = 6.4, height: float = 4.8) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised by the CLI test that hides matplotlib
        raise PlotUnavailableError(f"plots need matplotlib: {INSTALL_HINT}") from None
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike[str]) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)  # long labels: never cut
    target = os.fspath(path)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def plot_history(
    history: History, path: str | os.PathLike[str], title: str = "Training", loss_label: str = "loss"
) -> str:
    """Training and validation loss per epoch, with the learning rate on a second axis starting at 0.

    ``loss_label`` names what the loss measures (e.g. "MSE of the standardized target"); the
    legend sits outside the curves, below the axes, so it never covers one.
    """
    figure = _figure(6.4, 5.2)
    ax = figure.add_subplot()
    epochs = np.arange(1, history.epochs + 1)
    ax.plot(epochs, history.loss, label="training loss", color="tab:blue")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, label="validation loss", color="tab:orange")
    if history.best_epoch is not None:
        ax.axvline(
            history.best_epoch, color="gray", linestyle=":", label=f"best epoch ({history.best_epoch})"
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if history.lr:
        lr_axis = ax.twinx()
        lr_axis.plot(epochs, history.lr, color="tab:green", linestyle="--", label="learning rate")
        lr_axis.set_ylabel("learning rate")
        lr_axis.set_ylim(bottom=0.0, top=max(history.lr) * 1.1 or 1.0)  # from 0: a decay is not a collapse
        more = lr_axis.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    # two columns: four entries in one row ran from edge to edge of the figure
    figure.legend(handles, labels, loc="outside lower center", ncols=min(2, len(labels)), frameon=False)
    return _save(figure, path)


def plot_confusion_matrix(
    matrix: Array, class_names: Sequence[str], path: str | os.PathLike[str], title: str = "Confusion matrix"
) -> str:
    """A heat map of counts, true classes as rows and predicted classes as columns."""
    figure = _figure(5.2, 4.6)
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(class_names))
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(class_names) <= 12:  # a count in each cell while it can still be read
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(
                j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black"
            )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(figure, path)


def plot_search(
    labels: Sequence[str],
    scores: Array,
    path: str | os.PathLike[str],
    metric: str = "score",
    higher_is_better: bool = True,
    title: str = "Search",
    top: int = 30,
) -> str:
    """Cross-validation scores of a search: a row per candidate, best at the top.

    ``scores`` has shape (candidates, folds); each row shows every fold's score as a dot and the
    mean with a bar of one standard deviation, so a candidate good on average but unstable shows.
    At most ``top`` candidates are drawn; diverged ones (NaN) are left out.
    """
    scores = np.asarray(scores, dtype=np.float64)
    means = scores.mean(axis=1)
    kept = np.flatnonzero(~np.isnan(means))
    order = kept[np.argsort(-means[kept] if higher_is_better else means[kept], kind="stable")][:top]
    figure = _figure(7.2, 1.6 + 0.32 * max(len(order), 1))
    ax = figure.add_subplot()
    positions = np.arange(len(order))[::-1]
    for position, c in zip(positions, order, strict=True):
        ax.plot(scores[c], np.full(scores.shape[1], position), "o", color="tab:blue", alpha=0.4, markersize=4)
    stds = scores.std(axis=1)
    ax.errorbar(means[order], positions, xerr=stds[order], fmt="D", color="black", markersize=5, capsize=3)
    ax.grid(axis="x", alpha=0.3)
    ax.set_yticks(positions, labels=[labels[c] for c in order], fontsize=8)
    if len(order):
        low, high = np.nanmin(scores[order]), np.nanmax(scores[order])
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
        ax.set_xlim(low - pad, high + pad)
    better = "higher is better" if higher_is_better else "lower is better"
    ax.set_xlabel(f"{metric}: each fold (dots), mean \u00b1 std (diamond); {better}")
    ax.set_title(title)
    return _save(figure, path)


def plot_predictions(
    y_true: Array,
    y_pred: Array,
    path: str | os.PathLike[str],
    target_name: str = "target",
    title: str = "Predicted vs actual",
) -> str:
    """Predicted against actual values with the identity line (regression)."""
    figure = _figure(5.2, 5.0)
    ax = figure.add_subplot()
    t, p = np.ravel(y_true), np.ravel(y_pred)
    ax.scatter(t, p, s=14, alpha=0.7)
    low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([low, high], [low, high], color="black", linestyle="--", label="perfect prediction")
    ax.set_xlabel(f"actual {target_name}")
    ax.set_ylabel(f"predicted {target_name}")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(figure, path)


def plot_features(
    x: Array,
    y_true: Array,
    y_pred: Array,
    features: Sequence[int],
    feature_names: Sequence[str],
    path: str | os.PathLike[str],
    target_name: str = "target",
    class_names: Sequence[str] | None = None,
    title: str = "Features against the target",
) -> str:
    """Chosen features against the target.

    Regression: each feature against the actual values and the predictions. Classification: the
    samples in the plane of two features (or along one), colored by their true class, with the
    misclassified ones ringed in red, so the classes and the errors are both visible.
    """
    if class_names is not None:
        return _plot_classes(x, y_true, y_pred, features, feature_names, path, class_names, title)
    figure = _figure(4.2 * len(features), 4.4)
    axes = figure.subplots(1, len(features), squeeze=False)[0]
    for ax, index in zip(axes, features, strict=True):
        ax.scatter(x[:, index], np.ravel(y_true), s=18, alpha=0.6, label="actual")
        ax.scatter(x[:, index], np.ravel(y_pred), s=18, alpha=0.6, marker="x", label="predicted")
        ax.set_xlabel(feature_names[index])
        ax.set_ylabel(target_name)
        ax.legend(loc="best")
    figure.suptitle(title)
    return _save(figure, path)


def _plot_classes(
    x: Array,
    y_true: Array,
    y_pred: Array,
    features: Sequence[int],
    feature_names: Sequence[str],
    path: str | os.PathLike[str],
    class_names: Sequence[str],
    title: str,
) -> str:
    figure = _figure(5.6, 4.8)
    ax = figure.add_subplot()
    t, p = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    first = x[:, features[0]]
    if len(features) > 1:
        second = x[:, features[1]]
        ax.set_ylabel(feature_names[features[1]])
    else:  # one feature: spread the classes over rows
        second = t + np.random.default_rng(0).uniform(-0.2, 0.2, len(t))
        ax.set_yticks(np.arange(len(class_names)), labels=list(class_names))
        ax.set_ylabel("true class")
    for k, name in enumerate(class_names):
        chosen = t == k
        ax.scatter(first[chosen], second[chosen], s=22, alpha=0.75, label=name)
    wrong = t != p
    if wrong.any():
        ax.scatter(
            first[wrong], second[wrong], s=90, facecolors="none", edgecolors="red", label="misclassified"
        )
    ax.set_xlabel(feature_names[features[0]])
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return _save(figure, path)
