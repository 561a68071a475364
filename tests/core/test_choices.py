"""One table per choice, read by the library, the command line, the search and the estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import require, run

import tinynet as tn
from tinynet.cli import build_parser
from tinynet.core.choices import Choices
from tinynet.core.init import INITIALIZERS
from tinynet.models.mlp import ACTIVATIONS, NORMS
from tinynet.training.metrics import METRICS
from tinynet.training.optim import OPTIMIZERS


def test_an_unknown_name_names_the_setting_the_choices_and_what_came_in() -> None:
    table = Choices("colour", {"red": 1, "blue": 2})
    assert table["red"] == 1 and "blue" in table and 3 not in table and list(table) == ["red", "blue"]
    with pytest.raises(ValueError, match=r"colour must be one of \['blue', 'red'\], got 'green'"):
        table["green"]
    with pytest.raises(ValueError, match="colour must be one of"):
        table.check(["red"])


def choices_of(command: str, flag: str) -> list[str]:
    return list(build_parser().commands[command].actions[flag].choices or [])


def test_every_flag_offers_exactly_its_table() -> None:
    assert choices_of("train", "--optimizer") == list(OPTIMIZERS)
    assert sorted(choices_of("train", "--activation")) == ACTIVATIONS.names
    assert sorted(choices_of("train", "--weight_init")) == INITIALIZERS.names
    assert sorted(choices_of("train", "--norm")) == NORMS.names
    assert sorted(choices_of("search", "--scoring")) == METRICS.names


def test_every_optimizer_of_the_table_trains_from_the_command_line(tmp_path: Any, capsys: Any) -> None:
    for name in OPTIMIZERS:
        code, out, err = run(
            f"train -t classification -d iris -l 4 -e 2 --optimizer {name} --output_dir {tmp_path}", capsys
        )
        assert code == 0 and f"{name} lr=0.01" in out, err


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 1 or 2 epochs
def test_the_estimators_read_the_same_table() -> None:
    require("sklearn")
    from tinynet import sklearn

    x = np.random.default_rng(0).standard_normal((20, 3))
    y = (x[:, 0] > 0).astype(int)
    estimator = sklearn.TinyNetClassifier(optimizer="adagrad", epochs=2, random_state=0).fit(x, y)
    assert type(estimator.optimizer_) is tn.Adagrad
    estimator = sklearn.TinyNetClassifier(optimizer="momentum", epochs=1, random_state=0).fit(x, y)
    assert type(estimator.optimizer_) is tn.SGD and estimator.optimizer_.momentum == 0.9
    with pytest.raises(ValueError, match="optimizer must be one of"):
        sklearn.TinyNetClassifier(optimizer="lbfgs").fit(x, y)
