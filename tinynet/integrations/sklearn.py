"""scikit-learn estimators around tinynet: ``TinyNetClassifier`` and ``TinyNetRegressor``.

They live in pipelines, ``GridSearchCV`` and ``cross_val_score`` like any scikit-learn estimator
(the ``tinynet-nn[sklearn]`` extra; importing this module imports scikit-learn, ``import tinynet``
does not), and behave as scikit-learn's own ``MLPClassifier``/``MLPRegressor`` wherever the concept
exists (``tests/integrations/test_sklearn_mlp_port.py`` runs scikit-learn's MLP tests on them).
Every hyperparameter is an explicit constructor argument:

    TinyNetClassifier(module=MLP(hidden=(32,)), optimizer="adam", learning_rate=0.01, epochs=100,
                      batch_size=32, l1=0.0, l2=0.0, schedule=None, clip=None, early_stopping=False,
                      validation_fraction=0.1, patience=10, tol=1e-4, shuffle=True,
                      random_state=None, warm_start=False, verbose=0, dtype="float64")

``module`` builds the network: an ``MLP`` (whose settings a grid reaches as ``module__hidden``) or
any callable ``(n_features, n_outputs, rng) -> Module``; such a network may take samples of any
shape, ``X`` of shape ``(n, ...)`` (``n_features`` is then ``X.shape[1]``). ``epochs`` is scikit-learn's
``max_iter``; ``patience`` its ``n_iter_no_change`` (an int >= 1, or ``math.inf``).

Stopping, as scikit-learn: training stops once ``patience`` epochs in a row have not improved by
more than ``tol`` the validation score (with ``early_stopping``: accuracy, or R^2, on the held-out
``validation_fraction``; the best epoch's weights are kept) or else the training loss. When
``epochs`` run out first, ``fit`` warns with a ``ConvergenceWarning``.

Fitted attributes: ``model_`` (a plain tinynet Module, so ``tn.save(est.model_, path)`` works),
``optimizer_``, ``classes_`` (any label type; ``arange(k)`` for a multilabel indicator ``y``),
``n_features_in_``, ``feature_names_in_`` (for DataFrames), ``n_outputs_``, ``history_``,
``loss_curve_``, ``n_iter_`` (the epochs of the last ``fit``; ``partial_fit`` adds one),
``best_loss_``, ``validation_scores_`` and ``best_validation_score_``.

Choices (where scikit-learn's own MLP differs, the reason): the regressor standardizes the target
internally and predicts in its original units (training on raw targets of size 100 with a 0.01
learning rate diverges); a binary problem has two softmax outputs, not one logistic unit (one
code path for every number of classes); ``sample_weight`` weighs each row's loss; training that
diverges raises ``tinynet.TrainingDivergedError`` instead of recording NaN scores; a class with a
single sample cannot be stratified into the early-stopping split, so it stays in training and a
warning says so (scikit-learn raises). ``partial_fit`` runs one epoch per call on the rows given,
continuing the optimizer's state, the shuffling stream and the schedule: N calls on the same rows
equal one ``fit`` of N epochs. A ``warm_start`` fit continues them too. A sparse ``X`` is
densified one batch at a time, never whole. With an integer ``random_state`` every fit is
bit-identical, also under ``n_jobs`` and on a Dask cluster when the BLAS thread count is the same.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tinynet._version import install_hint

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - exercised by a test that hides scikit-learn
    raise ImportError(
        f"tinynet.sklearn needs scikit-learn >= 1.6: {install_hint('sklearn')} ({error})"
    ) from error

from tinynet.core.checks import Array, as_float_dtype, check_float, check_int
from tinynet.core.module import Module
from tinynet.data import StandardScaler, split_indices
from tinynet.layers.activation import softmax
from tinynet.models.mlp import MLP
from tinynet.training import metrics
from tinynet.training.callbacks import Callback, History
from tinynet.training.loop import fit, predict
from tinynet.training.losses import BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from tinynet.training.settings import TrainingSettings

DEFAULT_MODULE = MLP(hidden=(32,))  # shared default: set_params copies it before changing it


class _SparseRows:
    """A sparse matrix seen as an array whose rows come out dense: ``fit`` and ``predict`` take
    it batch by batch, so the whole matrix is never densified."""

    def __init__(self, matrix: Any) -> None:
        self.matrix = matrix
        self.shape = matrix.shape
        self.dtype = matrix.dtype

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, index: Any) -> Array:
        rows: Array = self.matrix[index].toarray()
        return rows


class _Convergence(Callback):
    """scikit-learn's stopping rule: ``patience`` epochs in a row without improving by more than
    ``tol``; the validation score (higher is better, best weights kept) or else the training loss."""

    def __init__(self, tol: float, patience: float, score: Callable[[], float] | None, best: float) -> None:
        self.tol, self.patience, self.score = tol, patience, score
        self.best = best
        self.scores: list[float] = []
        self.stopped = False
        self._wait = 0
        self._model: Module | None = None
        self._best_state: dict[str, Array] | None = None

    def on_train_begin(self, model: Module) -> None:
        self._model = model

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.score is None:
            loss = logs["loss"]
            improved = loss < self.best - self.tol
            self.best = min(self.best, loss)
        else:
            value = self.score()
            self.scores.append(value)
            improved = value > self.best + self.tol
            if value > self.best and self._model is not None:
                self.best, self._best_state = value, self._model.state_dict()
        self._wait = 0 if improved else self._wait + 1
        self.stopped = self._wait >= self.patience
        return self.stopped

    def stop_reason(self) -> str:
        what = "the validation score" if self.score is not None else "the training loss"
        return f"{what} did not improve by more than tol={self.tol} for {self.patience} epochs"

    def on_train_end(self, model: Module, history: History) -> None:
        if self._best_state is not None:
            model.load_state_dict(self._best_state)


class _TinyNetEstimator(BaseEstimator):  # type: ignore[misc]
    """What the classifier and the regressor share: building, training, predicting."""

    def __init__(
        self,
        module: Any = DEFAULT_MODULE,
        optimizer: str = "adam",
        learning_rate: float = 0.01,
        epochs: int = 100,
        batch_size: int = 32,
        l1: float = 0.0,
        l2: float = 0.0,
        schedule: Callable[[int], float] | None = None,
        clip: float | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: float = 10,
        tol: float = 1e-4,
        shuffle: bool = True,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        dtype: str = "float64",
    ) -> None:
        self.module = module
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.l1 = l1
        self.l2 = l2
        self.schedule = schedule
        self.clip = clip
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.dtype = dtype

    def set_params(self, **params: Any) -> Any:
        if self.module is DEFAULT_MODULE and any(key.startswith("module__") for key in params):
            self.module = copy.deepcopy(DEFAULT_MODULE)  # never change the shared default
        return super().set_params(**params)

    # -- hooks for the two kinds -----------------------------------------------------------------
    def _targets(
        self, y: Any, first: bool, classes: Any, weights: Array | None, partial: bool
    ) -> tuple[Array, int]:
        """Encoded targets and the number of outputs; the first time also what encoding needs."""
        raise NotImplementedError

    def _loss(self) -> Loss:
        raise NotImplementedError

    def _score(self, outputs: Array, targets: Array) -> float:
        """The validation score of network outputs against encoded targets (higher is better)."""
        raise NotImplementedError

    # -- settings --------------------------------------------------------------------------------
    def _training(self) -> TrainingSettings:
        """The estimator's training settings, as the command line and TabularModel name them."""
        return TrainingSettings(
            optimizer=self.optimizer,
            learning_rate=float(self.learning_rate),
            l1=float(self.l1),
            l2=float(self.l2),
            clip=self.clip,
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            validation_split=float(self.validation_fraction),
        )

    def _check_settings(self) -> None:
        check_int(self.epochs, "epochs", minimum=1)
        check_float(self.tol, "tol", low=0.0)
        if not (
            self.patience == math.inf or (isinstance(self.patience, (int, np.integer)) and self.patience >= 1)
        ):
            raise ValueError(f"patience must be an int >= 1 or math.inf, got {self.patience!r}")

    # -- training --------------------------------------------------------------------------------
    def _build(self, n_features: int, n_outputs: int) -> None:
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        builder = self.module
        if isinstance(builder, MLP):
            builder = copy.deepcopy(builder).set_params(dtype=self.dtype)
        if not callable(builder):
            raise TypeError(
                f"module must be an MLP or a callable (n_features, n_outputs, rng) -> Module, got {builder!r}"
            )
        model = builder(n_features, n_outputs, np.random.default_rng(seed))
        if not isinstance(model, Module):
            raise TypeError(f"module must build a tinynet Module, it built {type(model).__name__}")
        self.model_ = model.to(as_float_dtype(self.dtype))
        self.optimizer_ = self._training().make_optimizer(model.parameters())
        self.n_outputs_ = n_outputs
        self._seed = seed
        self._shuffling = np.random.default_rng(seed)  # one stream over every fit and partial_fit
        self._epochs_done = 0  # the schedule's clock, across warm starts and partial fits
        self.history_ = History()
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.best_loss_: float | None = math.inf
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None
        self.best_validation_score_: float | None = -math.inf if self.early_stopping else None

    def _split(self, y: Array) -> tuple[Array, Array]:
        """Training and validation rows for early stopping: stratified for single-label classes;
        a class with one sample stays in training (a warning says so)."""
        n = len(y)
        classes = isinstance(self, ClassifierMixin) and y.ndim == 1
        rows = np.arange(n)
        kept = np.zeros(0, dtype=np.int64)
        if classes:
            counts = np.bincount(y)
            lonely = np.flatnonzero((counts > 0) & (counts < 2))
            if lonely.size:
                names = [str(c) for c in np.asarray(self.classes_)[lonely][:5]]
                warnings.warn(
                    f"early stopping: classes {names} have a single sample; it stays in training and "
                    "the validation split is stratified over the other classes",
                    UserWarning,
                    stacklevel=4,
                )
                kept = np.flatnonzero(np.isin(y, lonely))
                rows = np.flatnonzero(~np.isin(y, lonely))
        n_val = round(len(rows) * float(self.validation_fraction))
        if n_val < 1 or n_val >= len(rows):
            raise ValueError(
                f"the validation set is too small: validation_fraction={self.validation_fraction} of "
                f"{n} samples leaves {n_val} for validation; early stopping needs at least 1 on each side"
            )
        train, held = split_indices(
            len(rows), y[rows] if classes else None, n_val, rng=self._seed, stratify=classes
        )
        return np.sort(np.concatenate([rows[train], kept])), rows[held]

    def _train(self, x: Any, y: Array, weights: Array | None, epochs: int, partial: bool) -> None:
        training = self._training()
        stopper = None
        if not partial:
            score = None
            if self.early_stopping:
                train, held = self._split(y)
                x_val, y_val = x[held], y[held]
                x, y = x[train], y[train]
                weights = None if weights is None else weights[train]
                model = self.model_

                def score() -> float:
                    return self._score(predict(model, _rows(x_val), _batch(x_val)), y_val)

            best = self.best_validation_score_ if score is not None else self.best_loss_
            if best is None:  # the other kind of stopping ran before this warm start
                best = -math.inf if score is not None else math.inf
            stopper = _Convergence(float(self.tol), self.patience, score, float(best))
        offset = self._epochs_done
        schedule = self.schedule
        history = fit(
            self.model_,
            _rows(x),
            y,
            loss=self._loss(),
            optimizer=self.optimizer_,
            epochs=epochs,
            batch_size=training.batch_size,
            shuffle=bool(self.shuffle),
            rng=self._shuffling,
            schedule=None if schedule is None else (lambda t: schedule(t + offset)),
            clipper=training.clipper(),
            regularizer=training.regularizer(),
            callbacks=[stopper] if stopper is not None else [],
            sample_weight=weights,
            verbose=int(self.verbose),
        )
        self._epochs_done += history.epochs
        self.history_.extend(history)  # one history over warm starts and partial fits
        self.loss_curve_ += history.loss
        self.n_iter_ = self.n_iter_ + history.epochs if partial else history.epochs
        if stopper is None:
            return
        if self.early_stopping:
            assert self.validation_scores_ is not None
            self.validation_scores_ += stopper.scores
            self.best_validation_score_ = stopper.best
            self.best_loss_ = None
        else:
            self.best_loss_ = stopper.best
        if not stopper.stopped:
            warnings.warn(
                f"the training ran all {epochs} epochs and has not converged yet: it still improved by "
                f"more than tol={self.tol} within the last patience={self.patience} epochs; raise epochs "
                "(or tol)",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, epochs: int, partial: bool, classes: Any = None
    ) -> Any:
        if partial and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: it trains one epoch on the rows it "
                "is given and holds none out; use fit, or set early_stopping=False"
            )
        self._check_settings()
        fresh = not (hasattr(self, "model_") and (self.warm_start or partial))
        x, y = validate_data(
            self,
            X,
            y,
            reset=fresh,
            accept_sparse="csr",
            allow_nd=not isinstance(self.module, MLP),  # a user-built network may take (n, ...) samples
            dtype=[np.float64, np.float32],
            y_numeric=not isinstance(self, ClassifierMixin),
            multi_output=True,
        )
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape != (x.shape[0],):
                raise ValueError(
                    f"sample_weight must have one weight per sample, shape ({x.shape[0]},), "
                    f"got {weights.shape}"
                )
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError("sample_weight must hold finite numbers >= 0")
            if weights.sum() <= 0:
                raise ValueError("Sample weights must contain at least one non-zero number (they sum to 0)")
        y_encoded, n_outputs = self._targets(y, fresh, classes, weights, partial)
        if fresh:
            self._build(x.shape[1], n_outputs)
        if getattr(self, "_single_class", False):
            return self  # one class: nothing to learn, every prediction is that class
        x = x.astype(self.model_.dtype or np.float64, copy=False)
        self._train(x, y_encoded, weights, epochs, partial)
        return self

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Train on ``X`` (n, features) and ``y`` for up to ``epochs`` epochs; with ``warm_start``
        from the last fit's weights, optimizer state and schedule position."""
        return self._fit(X, y, sample_weight, int(self.epochs), partial=False)

    def _outputs(self, X: Any) -> Array:
        check_is_fitted(self, "model_")
        x = validate_data(
            self,
            X,
            reset=False,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            allow_nd=not isinstance(self.module, MLP),
        )
        x = x.astype(self.model_.dtype or np.float64, copy=False)
        out: Array = predict(self.model_, _rows(x), _batch(x))
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False  # bit-identical for an integer random_state
        tags.input_tags.sparse = True
        return tags


def _rows(x: Any) -> Any:
    """A sparse matrix as dense batches; an array as it is."""
    return _SparseRows(x) if hasattr(x, "toarray") else x


def _batch(x: Any) -> int | None:
    """Predict a sparse matrix 4096 rows at a time; an array in one go."""
    return 4096 if hasattr(x, "toarray") else None


class TinyNetClassifier(ClassifierMixin, _TinyNetEstimator):  # type: ignore[misc]
    """A neural-network classifier: softmax cross-entropy on ``module``'s outputs, or for a
    multilabel indicator ``y`` (n, k) of 0/1 a sigmoid per label with binary cross-entropy."""

    def _targets(
        self, y: Any, first: bool, classes: Any, weights: Array | None, partial: bool
    ) -> tuple[Array, int]:
        multilabel = type_of_target(y) == "multilabel-indicator"
        if first:
            self._multilabel = multilabel
            if multilabel:
                known = np.arange(np.shape(y)[1])
            else:
                known = np.unique(column_or_1d(y)) if classes is None else np.unique(np.asarray(classes))
            self.classes_ = known
            self._single_class = len(known) == 1 and not multilabel
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(
                f"classes={np.unique(np.asarray(classes)).tolist()} is not the classes of the first call to "
                f"partial_fit, {self.classes_.tolist()}"
            )
        if multilabel != self._multilabel:
            kind = "a multilabel indicator matrix" if self._multilabel else "one label per row"
            raise ValueError(f"y must be {kind}, as in the first fit, got the other kind")
        if multilabel:
            indicator = np.asarray(y, dtype=np.float64)
            if indicator.shape[1] != len(self.classes_):
                raise ValueError(f"y has {indicator.shape[1]} labels, the first fit had {len(self.classes_)}")
            return indicator, indicator.shape[1]
        labels = column_or_1d(y, warn=True)
        check_classification_targets(labels)
        unknown = np.setdiff1d(np.unique(labels), self.classes_)
        if unknown.size:
            if not first and not partial:  # a warm start onto another set of classes
                raise ValueError(
                    f"warm_start needs y with the classes of the previous fit, {self.classes_.tolist()}; "
                    f"y has {np.unique(labels).tolist()}"
                )
            raise ValueError(
                f"y holds labels {unknown[:5].tolist()} that are not in classes_ "
                f"{self.classes_[:10].tolist()}"
            )
        if not first and not partial and not np.array_equal(np.unique(labels), self.classes_):
            raise ValueError(
                f"warm_start needs y with the classes of the previous fit, {self.classes_.tolist()}; "
                f"y has {np.unique(labels).tolist()}"
            )
        indices = np.searchsorted(self.classes_, labels).astype(np.int64)
        n_classes = max(len(self.classes_), 1)
        if partial and len(np.unique(indices)) == 1 and n_classes > 1:
            # a batch of one class is fine online: as one-hot rows (fit refuses one class of indices)
            return np.eye(n_classes)[indices], n_classes
        return indices, n_classes

    def _loss(self) -> Loss:
        return BCEWithLogitsLoss() if self._multilabel else CrossEntropyLoss()

    def _score(self, outputs: Array, targets: Array) -> float:
        if self._multilabel:  # subset accuracy, as scikit-learn's score
            return float(np.mean(np.all((outputs > 0) == (targets > 0.5), axis=1)))
        return metrics.accuracy(targets, outputs)

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> TinyNetClassifier:
        """One epoch over ``(X, y)``; the first call needs ``classes``, every label y may hold (a
        batch may hold any of them, one alone included)."""
        if not hasattr(self, "model_") and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit (every label y may hold)"
            )
        self._fit(X, y, sample_weight, 1, partial=True, classes=classes)
        return self

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (n, n_classes), columns in the order of ``classes_`` (multilabel:
        each label's own probability, rows need not sum to 1)."""
        out = self._outputs(X)
        if getattr(self, "_single_class", False):
            return np.ones((len(out), 1), dtype=out.dtype)
        if self._multilabel:
            with np.errstate(over="ignore", under="ignore"):
                probabilities: Array = 0.5 * np.tanh(0.5 * out) + 0.5
            return probabilities
        return softmax(out)

    def predict_log_proba(self, X: Any) -> Array:
        """The logarithm of ``predict_proba``, computed stably from the outputs."""
        out = self._outputs(X)
        if getattr(self, "_single_class", False):
            return np.zeros((len(out), 1), dtype=out.dtype)
        if self._multilabel:  # log sigmoid(z) = -softplus(-z)
            result: Array = -(np.maximum(-out, 0) + np.log1p(np.exp(-np.abs(out))))
            return result
        shifted = out - out.max(axis=1, keepdims=True)
        logs: Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return logs

    def decision_function(self, X: Any) -> Array:
        """The network's scores: (n, n_classes) logits; for two classes the (n,) margin
        z_1 - z_0 (positive: ``classes_[1]``), as scikit-learn's linear classifiers."""
        out = self._outputs(X)
        if not getattr(self, "_multilabel", False) and out.shape[1] == 2:
            margin: Array = out[:, 1] - out[:, 0]
            return margin
        return out

    def predict(self, X: Any) -> Array:
        """The most probable class of each row, as a label of ``classes_`` (multilabel: the 0/1
        indicator matrix of the labels with probability above 1/2)."""
        probabilities = self.predict_proba(X)  # first: it checks that the estimator is fitted
        if getattr(self, "_multilabel", False):
            indicator: Array = (probabilities > 0.5).astype(np.int64)
            return indicator
        labels: Array = self.classes_[probabilities.argmax(axis=1)]
        return labels

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class TinyNetRegressor(RegressorMixin, _TinyNetEstimator):  # type: ignore[misc]
    """A neural-network regressor: mean squared error, targets standardized inside (see the module)."""

    def _targets(
        self, y: Any, first: bool, classes: Any, weights: Array | None, partial: bool
    ) -> tuple[Array, int]:
        values = np.asarray(y, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 1:
            values = column_or_1d(values, warn=True)
        if first:  # weighted statistics: a weight of 2 is the same row twice
            self._y_2d = values.ndim == 2
            self._y_scaler = StandardScaler().fit(values, sample_weight=weights)
        scaled = self._y_scaler.transform(values)
        return scaled.reshape(len(values), -1), scaled.reshape(len(values), -1).shape[1]

    def _loss(self) -> Loss:
        return MSELoss()

    def _score(self, outputs: Array, targets: Array) -> float:
        return metrics.r2(targets, outputs)  # R^2 is the same on standardized targets

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # a 2-D y gets one output per column
        return tags

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> TinyNetRegressor:
        """One epoch over ``(X, y)``, keeping the weights and the optimizer's state between calls."""
        self._fit(X, y, sample_weight, 1, partial=True)
        return self

    def predict(self, X: Any) -> Array:
        """Predictions in the target's original units, in the network's dtype: (n,), or (n, k)
        for a 2-D target."""
        outputs = self._outputs(X)
        values: Array = self._y_scaler.inverse_transform(outputs if self._y_2d else outputs[:, 0])
        return values.astype(outputs.dtype, copy=False)


__all__ = ["DEFAULT_MODULE", "MLP", "TinyNetClassifier", "TinyNetRegressor"]
