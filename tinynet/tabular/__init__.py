"""The table pipeline: a CSV table -> encoder -> network -> model file -> predictions.

``TabularModel`` does in Python what ``tinynet train``, ``predict``, ``evaluate`` and ``export`` do:
``TabularSettings`` is a run's settings, ``TableData`` the rows selected from a table,
``TableEncoder`` the fitted preprocessing and ``TabularMetadata`` the model file's schema.
"""

from tinynet.tabular.data import TableData, load_table
from tinynet.tabular.encoder import Encoded, TableEncoder
from tinynet.tabular.metadata import TabularMetadata
from tinynet.tabular.model import Evaluation, TabularModel
from tinynet.tabular.settings import SettingError, TabularSettings

__all__ = [
    "Encoded",
    "Evaluation",
    "SettingError",
    "TableData",
    "TableEncoder",
    "TabularMetadata",
    "TabularModel",
    "TabularSettings",
    "load_table",
]
