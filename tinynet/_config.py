"""Settings declared once: ``get_config``, ``from_config`` and ``repr`` derived from one tuple.

A class lists the constructor arguments that rebuild it in ``settings`` (the way ``buffers`` lists
saved arrays, after Equinox's static fields and scikit-learn's ``get_params``). Each value is read
from the attribute of the same name; an entry ``(argument, attribute)`` reads another attribute
(``Dense`` keeps its bias Parameter in ``bias`` and the flag in ``has_bias``).

    class Scale(tn.Module):
        settings = ("factor",)

        def __init__(self, factor: float = 2.0) -> None:
            super().__init__()
            self.factor = factor

    Scale(3.0).get_config() == {"factor": 3.0};  repr(Scale(3.0)) == "Scale(factor=3.0)"
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
from typing_extensions import Self

Setting = str | tuple[str, str]


def plain(value: Any) -> Any:
    """``value`` as JSON-able Python data: dtypes as names, tuples as lists, NumPy scalars as numbers."""
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults(cls: type) -> dict[str, Any]:
    """The constructor's default values by argument name (computed once per class)."""
    if cls not in _DEFAULTS:
        try:
            parameters = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
        except (TypeError, ValueError):
            parameters = []  # type: ignore[assignment]
        _DEFAULTS[cls] = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    return _DEFAULTS[cls]


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(plain(a) == plain(b))
    except (TypeError, ValueError):  # arrays and other values without a plain truth value
        return False


class Configurable:
    """Derives ``get_config``, ``from_config`` and ``repr`` from the class's ``settings``."""

    settings: ClassVar[tuple[Setting, ...]] = ()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this object, as JSON-able values."""
        config = {}
        for entry in self.settings:
            argument, attribute = (entry, entry) if isinstance(entry, str) else entry
            config[argument] = plain(getattr(self, attribute))
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """``cls(**config)``: the inverse of ``get_config``."""
        factory: Any = cls
        rebuilt: Self = factory(**config)
        return rebuilt

    def extra_repr(self) -> str:
        """The settings that differ from their constructor defaults, as ``key=value``."""
        defaults = _defaults(type(self))
        return ", ".join(
            f"{key}={value!r}"
            for key, value in self.get_config().items()
            if not (key in defaults and _same(defaults[key], value))
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
