"""scikit-learn estimators around tinynet: ``TinyNetClassifier`` and ``TinyNetRegressor``.

They live in pipelines, ``GridSearchCV`` and ``cross_val_score`` like any scikit-learn estimator
(the ``tinynet[sklearn]`` extra; importing this module imports scikit-learn, ``import tinynet``
does not). Every hyperparameter is an explicit constructor argument:

    TinyNetClassifier(module=MLP(hidden=(32,)), optimizer="adam", learning_rate=0.01, epochs=100,
                      batch_size=32, l1=0.0, l2=0.0, schedule=None, clip=None, early_stopping=False,
                      validation_fraction=0.1, patience=10, random_state=None, warm_start=False,
                      verbose=0, dtype="float64")

``module`` builds the network: an ``MLP`` (whose settings a grid reaches as ``module__hidden``) or
any callable ``(n_features, n_outputs, rng) -> Module``. Fitted attributes: ``model_`` (a plain
tinynet Module, so ``tn.save(est.model_, path)`` works), ``classes_`` (any label type),
``n_features_in_``, ``feature_names_in_`` (for DataFrames), ``history_``, ``loss_curve_``, ``n_iter_``.

Choices (where scikit-learn's own MLP differs, the reason): the regressor standardizes the target
internally and predicts in its original units (training on raw targets of size 100 with a 0.01
learning rate diverges); ``sample_weight`` weighs each row's loss (a core feature of tinynet's
losses); ``partial_fit`` runs one epoch per call and keeps the optimizer's state; with an integer
``random_state`` every fit is bit-identical, also under ``n_jobs`` and on a Dask cluster when the
BLAS thread count is the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - exercised by a test that hides scikit-learn
    raise ImportError(
        f"tinynet.sklearn needs scikit-learn >= 1.6: pip install 'tinynet[sklearn]' ({error})"
    ) from error

from tinynet.core.checks import Array, as_float_dtype
from tinynet.core.module import Module
from tinynet.data import StandardScaler, split_indices
from tinynet.layers.activation import softmax
from tinynet.models.mlp import MLP
from tinynet.training.callbacks import EarlyStopping, History
from tinynet.training.loop import fit, predict
from tinynet.training.losses import CrossEntropyLoss, Loss, MSELoss
from tinynet.training.settings import TrainingSettings

DEFAULT_MODULE = MLP(hidden=(32,))  # shared default: set_params copies it before changing it


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
        patience: int = 10,
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
        self, y: Any, first: bool, classes: Any = None, weights: Array | None = None
    ) -> tuple[Array, int]:
        """Encoded targets and the number of outputs; the first time also what encoding needs."""
        raise NotImplementedError

    def _loss(self) -> Loss:
        raise NotImplementedError

    # -- training --------------------------------------------------------------------------------
    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _build(self, n_features: int, n_outputs: int, seed: int) -> None:
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
        self.history_ = History()
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0

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

    def _train(
        self, x: Array, y: Array, sample_weight: Array | None, epochs: int, seed: int, validate: bool
    ) -> None:
        training = self._training()
        validation = None
        weights = sample_weight
        if validate and self.early_stopping:
            stratify = isinstance(self, ClassifierMixin) and np.bincount(y).min() >= 2
            train, held = split_indices(
                len(x), y, float(self.validation_fraction), rng=seed, stratify=stratify
            )
            x, y, validation = x[train], y[train], (x[held], y[held])
            weights = None if sample_weight is None else sample_weight[train]
        history = fit(
            self.model_,
            x,
            y,
            loss=self._loss(),
            optimizer=self.optimizer_,
            epochs=epochs,
            batch_size=training.batch_size,
            rng=seed,
            schedule=self.schedule,
            clipper=training.clipper(),
            regularizer=training.regularizer(),
            validation_data=validation,
            early_stopping=EarlyStopping(patience=int(self.patience)) if validation is not None else None,
            sample_weight=weights,
            verbose=int(self.verbose),
        )
        self.history_.extend(history)  # one history over warm starts and partial fits
        self.loss_curve_ += history.loss
        self.n_iter_ += history.epochs

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, epochs: int, partial: bool, classes: Any = None
    ) -> Any:
        fresh = not (hasattr(self, "model_") and (self.warm_start or partial))
        x, y = validate_data(
            self,
            X,
            y,
            reset=fresh,
            dtype=[np.float64, np.float32],
            y_numeric=not isinstance(self, ClassifierMixin),
            multi_output=isinstance(self, RegressorMixin),
        )
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape != (len(x),):
                raise ValueError(
                    f"sample_weight must have one weight per sample, shape ({len(x)},), got {weights.shape}"
                )
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError("sample_weight must hold finite numbers >= 0")
            if weights.sum() <= 0:
                raise ValueError("Sample weights must contain at least one non-zero number (they sum to 0)")
        y_encoded, n_outputs = self._targets(y, fresh, classes, weights)
        seed = self._seed()
        if fresh:
            self._build(x.shape[1], n_outputs, seed)
        if getattr(self, "_single_class", False):
            return self  # one class: nothing to learn, every prediction is that class
        self._train(
            x.astype(self.model_.dtype or np.float64), y_encoded, weights, epochs, seed, validate=not partial
        )
        return self

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Train on ``X`` (n, features) and ``y``; with ``warm_start`` from the last fit's weights."""
        return self._fit(X, y, sample_weight, int(self.epochs), partial=False)

    def _outputs(self, X: Any) -> Array:
        check_is_fitted(self, "model_")
        x = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        out: Array = predict(self.model_, x.astype(self.model_.dtype or np.float64))
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False  # bit-identical for an integer random_state
        return tags


class TinyNetClassifier(ClassifierMixin, _TinyNetEstimator):  # type: ignore[misc]
    """A neural-network classifier: softmax cross-entropy on ``module``'s outputs (see the module)."""

    def _targets(
        self, y: Any, first: bool, classes: Any = None, weights: Array | None = None
    ) -> tuple[Array, int]:
        labels = column_or_1d(y, warn=True)
        check_classification_targets(labels)
        if first:
            known = np.unique(labels) if classes is None else np.unique(np.asarray(classes))
            self.classes_ = known
            self._single_class = len(known) == 1
        unknown = np.setdiff1d(np.unique(labels), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown[:5].tolist()} that are not in classes_ "
                f"{self.classes_[:10].tolist()}"
            )
        return np.searchsorted(self.classes_, labels).astype(np.int64), max(len(self.classes_), 1)

    def _loss(self) -> Loss:
        return CrossEntropyLoss()

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> TinyNetClassifier:
        """One epoch over ``(X, y)``; the first call needs ``classes``, every label there may be."""
        if not hasattr(self, "model_") and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit (every label y may hold)"
            )
        self._fit(X, y, sample_weight, 1, partial=True, classes=classes)
        return self

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (n, n_classes), columns in the order of ``classes_``."""
        out = self._outputs(X)
        if getattr(self, "_single_class", False):
            return np.ones((len(out), 1))
        probabilities: Array = softmax(np.asarray(out, dtype=np.float64))
        return probabilities

    def predict(self, X: Any) -> Array:
        """The most probable class of each row, as a label of ``classes_``."""
        probabilities = self.predict_proba(X)  # first: it checks that the estimator is fitted
        labels: Array = self.classes_[probabilities.argmax(axis=1)]
        return labels


class TinyNetRegressor(RegressorMixin, _TinyNetEstimator):  # type: ignore[misc]
    """A neural-network regressor: mean squared error, targets standardized inside (see the module)."""

    def _targets(
        self, y: Any, first: bool, classes: Any = None, weights: Array | None = None
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # a 2-D y gets one output per column
        return tags

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> TinyNetRegressor:
        """One epoch over ``(X, y)``, keeping the weights and the optimizer's state between calls."""
        self._fit(X, y, sample_weight, 1, partial=True)
        return self

    def predict(self, X: Any) -> Array:
        """Predictions in the target's original units: (n,), or (n, k) for a 2-D target."""
        outputs = self._outputs(X)
        values: Array = self._y_scaler.inverse_transform(outputs if self._y_2d else outputs[:, 0])
        return values


__all__ = ["DEFAULT_MODULE", "MLP", "TinyNetClassifier", "TinyNetRegressor"]
