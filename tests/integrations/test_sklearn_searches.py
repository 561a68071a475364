"""The estimators in searches that learn: scikit-learn's RandomizedSearchCV and HalvingRandomSearchCV,
and Optuna's OptunaSearchCV, with pruning through ``partial_fit``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import require

require("sklearn")
from scipy.stats import loguniform  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.experimental import enable_halving_search_cv  # noqa: E402, F401
from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV  # noqa: E402

from tinynet.sklearn import TinyNetClassifier, TinyNetRegressor  # noqa: E402

# fixed-epoch fits that end before the stopping rule warn, as scikit-learn's MLP does
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def classification() -> tuple[Any, Any]:
    return make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=1)


def test_a_randomized_search_draws_from_distributions_and_is_the_same_in_parallel() -> None:
    x, y = classification()
    space = {"learning_rate": loguniform(1e-4, 3e-1), "module__hidden": [(8,), (32,), (16, 8)]}

    def search(jobs: int) -> RandomizedSearchCV:
        estimator = TinyNetClassifier(epochs=15, random_state=0)
        return RandomizedSearchCV(estimator, space, n_iter=6, cv=3, random_state=0, n_jobs=jobs).fit(x, y)

    serial, parallel = search(1), search(2)
    rates = np.array(serial.cv_results_["param_learning_rate"], dtype=float)
    assert len(set(rates)) == 6 and rates.min() >= 1e-4 and rates.max() <= 3e-1
    scores = serial.cv_results_["mean_test_score"]
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"], scores)
    assert scores.max() - scores.min() > 0.1, "the learning rate really matters here"
    assert serial.best_score_ == scores.max() > 0.7
    best = serial.best_estimator_
    assert best.learning_rate == serial.best_params_["learning_rate"] and best.n_iter_ == 15


def test_successive_halving_gives_the_survivors_more_epochs() -> None:
    x, y = classification()
    search = HalvingRandomSearchCV(
        TinyNetClassifier(random_state=0),
        {"learning_rate": loguniform(1e-3, 3e-1), "module__hidden": [(8,), (32,)]},
        resource="epochs",
        min_resources=4,
        max_resources=36,
        factor=3,
        n_candidates=9,
        cv=3,
        random_state=0,
    ).fit(x, y)
    assert search.n_resources_ == [4, 12, 36] and search.n_candidates_ == [9, 3, 1]
    epochs = search.cv_results_["param_epochs"]
    assert sorted(set(epochs)) == [4, 12, 36]
    assert search.best_estimator_.epochs == 36 and search.best_estimator_.n_iter_ == 36
    # the default resource, rows: the regressor too
    xr, yr = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
    rows = HalvingRandomSearchCV(
        TinyNetRegressor(epochs=20, random_state=0),
        {"learning_rate": loguniform(1e-3, 1e-1)},
        n_candidates=4,
        factor=2,
        min_resources=60,
        cv=2,
        random_state=0,
    ).fit(xr, yr)
    assert rows.n_resources_[0] == 60 and rows.n_resources_[-1] > 60 and rows.best_score_ > 0.5


@pytest.mark.filterwarnings("ignore:OptunaSearchCV is experimental")  # Optuna's own label for it
# optuna-integration 5.0 still reports to optuna.terminator, which Optuna 4.9+ marks as deprecated
@pytest.mark.filterwarnings("ignore:`optuna.terminator` module has been deprecated:FutureWarning")
def test_optuna_search_cv_prunes_trials_through_partial_fit() -> None:
    optuna = require("optuna")
    integration = require("optuna_integration")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x, y = classification()
    distributions = {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 3e-1, log=True),
        "batch_size": optuna.distributions.CategoricalDistribution([16, 64]),
    }
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    )
    search = integration.OptunaSearchCV(
        TinyNetClassifier(random_state=0),
        distributions,
        cv=3,
        n_trials=12,
        enable_pruning=True,
        max_iter=15,
        study=study,
        random_state=0,
        verbose=0,
    ).fit(x, y)
    states = [trial.state for trial in study.trials]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(states) == 12 and pruned, "partial_fit reported each epoch and bad trials were stopped"
    assert all(len(t.intermediate_values) < 15 for t in pruned)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.intermediate_values) == 15 for t in complete)
    assert search.best_score_ == max(t.value for t in complete) > 0.7
    assert search.best_estimator_.learning_rate == search.best_params_["learning_rate"]
    assert (search.predict(x) == y).mean() > 0.7
