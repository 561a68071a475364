"""``Choices``: one table per named choice (an optimizer, an activation, a metric, ...).

A string setting is looked up in exactly one table, which the library, the command line, the
search and the scikit-learn estimators all read: adding an optimizer is one entry in one table.

    OPTIMIZERS = Choices("optimizer", {"sgd": SGD, "adam": Adam})
    OPTIMIZERS["adam"]      # Adam
    OPTIMIZERS["adma"]      # ValueError: optimizer must be one of ['adam', 'sgd'], got 'adma'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class Choices(Mapping[str, T]):
    """A read-only table from names to what they mean; an unknown name is a ``ValueError`` naming
    the setting, the valid names and what came in."""

    def __init__(self, setting: str, table: dict[str, T]) -> None:
        self.setting = setting
        self._table = dict(table)

    def __getitem__(self, name: str) -> T:
        try:
            return self._table[name]
        except (KeyError, TypeError):
            raise ValueError(f"{self.setting} must be one of {self.names}, got {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    @property
    def names(self) -> list[str]:
        """The valid names, sorted."""
        return sorted(self._table)

    def check(self, name: Any) -> str:
        """``name`` if it is a valid choice, else the ``ValueError`` of ``__getitem__``."""
        self[name]
        return str(name)

    def __repr__(self) -> str:
        return f"Choices({self.setting!r}, {self.names})"
