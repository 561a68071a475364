"""The scikit-learn estimators: scikit-learn's own checks, pipelines and searches, and what they keep."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn

require("sklearn")
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from tinynet.sklearn import DEFAULT_MODULE, MLP, TinyNetClassifier, TinyNetRegressor  # noqa: E402

# fixed-epoch fits that end before the stopping rule does warn, as scikit-learn's MLP (whose own
# tests silence it the same way); tests/integrations/test_sklearn_mlp_port.py checks the warning
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([TinyNetClassifier(random_state=0), TinyNetRegressor(random_state=0)])
def test_scikit_learns_own_checks(estimator: Any, check: Any) -> None:
    """Every check of scikit-learn's estimator suite, with no expected failures."""
    check(estimator)


def classification() -> tuple[Any, Any]:
    x, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3, random_state=0)
    return x, np.array(["cat", "dog", "owl"])[y]


def test_string_labels_pipelines_and_cross_validation() -> None:
    x, y = classification()
    model = make_pipeline(StandardScaler(), TinyNetClassifier(epochs=60, random_state=0))
    scores = cross_val_score(model, x, y, cv=3)
    assert scores.mean() > 0.75
    model.fit(x, y)
    estimator = model[-1]
    assert list(estimator.classes_) == ["cat", "dog", "owl"] and estimator.n_features_in_ == 6
    assert set(model.predict(x)) <= {"cat", "dog", "owl"}
    np.testing.assert_allclose(model.predict_proba(x).sum(axis=1), 1.0)
    assert len(estimator.loss_curve_) == estimator.n_iter_ == 60 and estimator.history_.epochs == 60


def test_a_grid_reaches_the_network_through_module_parameters() -> None:
    x, y = classification()
    search = GridSearchCV(
        TinyNetClassifier(epochs=20, random_state=0),
        {"module__hidden": [(8,), (16, 8)], "learning_rate": [0.01, 0.05]},
        cv=2,
    )
    search.fit(x, y)
    assert set(search.cv_results_["param_module__hidden"]) == {(8,), (16, 8)}
    assert DEFAULT_MODULE.hidden == (32,), "the shared default builder is never changed"
    estimator = TinyNetClassifier()
    estimator.set_params(module__hidden=(4,))
    assert estimator.module.hidden == (4,) and DEFAULT_MODULE.hidden == (32,)


@pytest.mark.slow
def test_reproducible_with_an_integer_random_state_also_in_parallel() -> None:
    x, y = classification()
    grid = {"module__hidden": [(8,), (12,)], "epochs": [10, 15]}
    serial = GridSearchCV(TinyNetClassifier(random_state=3), grid, cv=2, n_jobs=1).fit(x, y)
    parallel = GridSearchCV(TinyNetClassifier(random_state=3), grid, cv=2, n_jobs=2).fit(x, y)
    np.testing.assert_array_equal(
        serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"]
    )
    a = TinyNetClassifier(epochs=10, random_state=1).fit(x, y).predict_proba(x)
    b = TinyNetClassifier(epochs=10, random_state=1).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)


def test_a_fitted_estimator_pickles_small_and_the_model_saves(tmp_path: Path) -> None:
    x, y = classification()
    x = np.repeat(x, 20, axis=0)  # 4800 rows: none of them may end up in the pickle
    y = np.repeat(y, 20)
    estimator = TinyNetClassifier(module=MLP(hidden=(64,)), epochs=2, random_state=0).fit(x, y)
    blob = pickle.dumps(estimator)
    weights = sum(p.data.nbytes for p in estimator.model_.parameters())
    assert len(blob) < 4 * weights + 64 * 1024, "weights, optimizer state and settings, no batches"
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(x), estimator.predict_proba(x))
    tn.save(estimator.model_, tmp_path / "model.npz")
    np.testing.assert_array_equal(
        tn.predict(tn.load(tmp_path / "model.npz"), x), tn.predict(estimator.model_, x)
    )


def test_partial_fit_and_warm_start_continue_training() -> None:
    x, y = classification()
    estimator = TinyNetClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        estimator.partial_fit(x, y)
    for _ in range(3):
        estimator.partial_fit(x, y, classes=["cat", "dog", "owl"])
    assert estimator.n_iter_ == 3 and len(estimator.loss_curve_) == 3
    assert estimator.loss_curve_[-1] < estimator.loss_curve_[0]
    warm = TinyNetClassifier(epochs=5, warm_start=True, random_state=0).fit(x, y)
    first = [p.data.copy() for p in warm.model_.parameters()]
    warm.fit(x, y)
    assert warm.n_iter_ == 5, "n_iter_ counts the epochs of the last fit, as scikit-learn"
    assert len(warm.loss_curve_) == 10, "the loss curve goes on from the first fit"
    assert any(not np.array_equal(a, p.data) for a, p in zip(first, warm.model_.parameters(), strict=True))


def test_sample_weights_weigh_the_loss() -> None:
    x, y = classification()
    weights = np.where(y == "owl", 5.0, 1.0)
    plain = TinyNetClassifier(epochs=30, random_state=0).fit(x, y)
    weighted = TinyNetClassifier(epochs=30, random_state=0).fit(x, y, sample_weight=weights)
    owl = y == "owl"
    assert (weighted.predict(x[owl]) == "owl").mean() > (plain.predict(x[owl]) == "owl").mean()


def test_a_user_builder_and_the_regressor_in_original_units() -> None:
    x, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
    y = y * 100 + 1000  # large, offset targets: standardized inside, predicted in these units

    def builder(n_features: int, n_outputs: int, rng: np.random.Generator) -> tn.Module:
        return tn.Sequential(tn.Dense(n_features, 16, rng=rng), tn.Tanh(), tn.Dense(16, n_outputs, rng=rng))

    estimator = TinyNetRegressor(module=builder, epochs=80, random_state=0).fit(x, y)
    assert estimator.score(x, y) > 0.9
    raw = tn.predict(estimator.model_, x)[:, 0]  # the network itself predicts the standardized target
    assert abs(raw.std() - 1.0) < 0.1 and abs(estimator.predict(x).std() / y.std() - 1.0) < 0.1
    two = TinyNetRegressor(epochs=5, random_state=0).fit(x, np.column_stack([y, -y]))
    assert two.predict(x).shape == (300, 2)


def test_early_stopping_holds_out_a_validation_fraction() -> None:
    x, y = classification()
    estimator = TinyNetClassifier(
        epochs=500, learning_rate=0.05, early_stopping=True, patience=3, random_state=0
    )
    estimator.fit(x, y)
    assert estimator.n_iter_ < 500 and estimator.history_.stopped_epoch == estimator.n_iter_
    assert estimator.validation_scores_ is not None and len(estimator.validation_scores_) == estimator.n_iter_
    assert (
        estimator.best_validation_score_ == max(estimator.validation_scores_) and estimator.best_loss_ is None
    )


def test_a_sparse_x_is_never_densified_whole() -> None:
    scipy = require("scipy.sparse")
    import tracemalloc

    rows, columns = 100_000, 200  # dense: 160 MB
    x = scipy.random(rows, columns, density=0.001, format="csr", random_state=0, dtype=np.float64)
    y = np.asarray(x.sum(axis=1)).ravel() > np.median(np.asarray(x.sum(axis=1)).ravel())
    estimator = TinyNetClassifier(epochs=1, batch_size=512, random_state=0)
    tracemalloc.start()
    try:
        estimator.fit(x, y)
        estimator.predict(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB: the matrix was densified whole"


def test_zero_epochs_is_refused_and_float32_estimators_answer_in_float32() -> None:
    x, y = classification()
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        TinyNetClassifier(epochs=0).fit(x, y)
    x32 = x.astype(np.float32)
    classifier = TinyNetClassifier(epochs=2, dtype="float32", random_state=0).fit(x32, y)
    for output in (
        classifier.predict_proba(x32),
        classifier.predict_log_proba(x32),
        classifier.decision_function(x32),
    ):
        assert output.dtype == np.float32
    regressor = TinyNetRegressor(epochs=2, dtype="float32", random_state=0).fit(x32, np.arange(len(x)) / 10)
    assert regressor.predict(x32).dtype == np.float32


def test_a_user_built_network_takes_samples_of_any_shape() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 3, 4))
    y = np.where(x[:, 0, :].sum(axis=1) > 0, "up", "down")

    def builder(n_features: int, n_outputs: int, rng: np.random.Generator) -> tn.Module:
        return tn.Sequential(
            tn.Dense(4, 8, rng=rng), tn.Tanh(), tn.Flatten(), tn.Dense(3 * 8, n_outputs, rng=rng)
        )

    estimator = TinyNetClassifier(module=builder, epochs=40, random_state=0).fit(x, y)
    assert estimator.score(x, y) > 0.9 and estimator.predict(x).shape == (90,)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        TinyNetClassifier(epochs=1).fit(x, y)  # the MLP takes (n, features) tables
