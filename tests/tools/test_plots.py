"""The plots a run writes can be read: nothing cut off at the edges, no legend across the figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn


def _captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plot functions save, kept open for measuring."""
    from tinynet.tools import plot

    figures: list[Any] = []
    save = plot._save

    def keep(figure: Any, path: Any) -> str:
        figures.append(figure)
        return save(figure, path)

    monkeypatch.setattr(plot, "_save", keep)
    return figures


def _history() -> tn.History:
    x = np.random.default_rng(0).standard_normal((60, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    model = tn.Sequential(tn.Dense(3, 4, rng=0), tn.ReLU(), tn.Dense(4, 2, rng=1))
    return tn.fit(
        model,
        x,
        y,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.SGD(model.parameters(), lr=0.1),
        epochs=5,
        validation_split=0.2,
        schedule=tn.ExponentialDecay(0.1, 0.9),
        early_stopping=tn.EarlyStopping(patience=10),
        rng=0,
        verbose=0,
    )


def test_the_loss_legend_stays_within_the_plot_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four entries in one row ran from one edge of the figure to the other."""
    require("matplotlib")
    from tinynet.tools import plot

    figures = _captured(monkeypatch)
    plot.plot_history(_history(), tmp_path / "loss.png", loss_label="cross-entropy loss")
    (figure,) = figures
    renderer = figure.canvas.get_renderer()
    (legend,) = figure.legends
    legend_width = legend.get_window_extent(renderer).width
    axes_width = figure.axes[0].get_window_extent(renderer).width
    assert len(legend.get_texts()) == 4
    assert legend_width < 0.8 * axes_width, f"{legend_width:.0f} of {axes_width:.0f} pixels"


def test_a_search_plot_keeps_its_long_x_label_and_candidate_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The x-axis label of search.png was cut off at the figure's edge."""
    require("matplotlib")
    from matplotlib.image import imread
    from matplotlib.transforms import Bbox

    from tinynet.tools import plot

    figures = _captured(monkeypatch)
    labels = [f"learning_rate=0.0{i}, layers=64 32 16, activation=tanh" for i in range(1, 6)]
    scores = np.random.default_rng(0).uniform(0.8, 0.9, (5, 3))
    path = plot.plot_search(labels, scores, tmp_path / "search.png", metric="accuracy")
    (figure,) = figures
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    texts = [ax.xaxis.label, *ax.get_yticklabels()]
    drawn = Bbox.union([t.get_window_extent(renderer) for t in texts])
    saved = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)  # what the file holds
    assert saved.x0 <= drawn.x0 and drawn.x1 <= saved.x1 and saved.y0 <= drawn.y0
    height, width = imread(path).shape[:2]
    assert width >= drawn.width and height >= drawn.height
