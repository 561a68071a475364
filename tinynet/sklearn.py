"""scikit-learn estimators: ``TinyNetClassifier`` and ``TinyNetRegressor`` (the ``sklearn`` extra).

The public import path; the code lives in ``tinynet.integrations.sklearn``.
"""

from tinynet.integrations.sklearn import DEFAULT_MODULE, MLP, TinyNetClassifier, TinyNetRegressor

__all__ = ["DEFAULT_MODULE", "MLP", "TinyNetClassifier", "TinyNetRegressor"]
