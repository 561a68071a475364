"""Settings declared once: ``get_config``, ``from_config`` and ``repr`` derived from the constructor.

A class's settings are its named constructor arguments (scikit-learn's ``_get_param_names``),
each read back from the attribute of the same name, so a new argument cannot be silently left out
of saved files. Two class attributes adjust that, and nothing else is needed:

- ``not_settings``: arguments that are not part of what the object *is* (a random generator, an
  initializer, children passed to a container); the explicit opt-out;
- ``setting_attributes``: ``{argument: attribute}`` when the value lives under another name
  (``Dense`` keeps its bias Parameter in ``bias`` and the flag in ``has_bias``).

    class Scale(tn.Module):
        def __init__(self, factor: float = 2.0) -> None:
            super().__init__()
            self.factor = factor

    Scale(3.0).get_config() == {"factor": 3.0};  repr(Scale(3.0)) == "Scale(factor=3.0)"

A class may still list ``settings`` itself (a tuple of names or ``(argument, attribute)`` pairs)
when its constructor takes ``**kwargs``.
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


def _named_parameters(cls: type) -> list[inspect.Parameter]:
    """The constructor's named arguments (no ``self``, ``*args`` or ``**kwargs``)."""
    try:
        parameters = list(inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    except (TypeError, ValueError):
        return []
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in parameters[1:] if p.kind in named]


_DEFAULTS: dict[type, dict[str, Any]] = {}
_SETTINGS: dict[type, tuple[tuple[str, str], ...]] = {}


def _defaults(cls: type) -> dict[str, Any]:
    """The constructor's default values by argument name (computed once per class)."""
    if cls not in _DEFAULTS:
        _DEFAULTS[cls] = {
            p.name: p.default for p in _named_parameters(cls) if p.default is not inspect.Parameter.empty
        }
    return _DEFAULTS[cls]


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(plain(a) == plain(b))
    except (TypeError, ValueError):  # arrays and other values without a plain truth value
        return False


class Configurable:
    """Derives ``get_config``, ``from_config`` and ``repr`` from the constructor (see the module)."""

    settings: ClassVar[tuple[Setting, ...] | None] = None  # None: the constructor's named arguments
    not_settings: ClassVar[tuple[str, ...]] = ()
    setting_attributes: ClassVar[dict[str, str]] = {}

    @classmethod
    def setting_names(cls) -> tuple[tuple[str, str], ...]:
        """``(argument, attribute)`` of every setting, in constructor order (computed once per class)."""
        if cls not in _SETTINGS:
            if cls.settings is not None:
                entries = [(e, e) if isinstance(e, str) else e for e in cls.settings]
            else:
                entries = [
                    (p.name, cls.setting_attributes.get(p.name, p.name))
                    for p in _named_parameters(cls)
                    if p.name not in cls.not_settings
                ]
            _SETTINGS[cls] = tuple(entries)
        return _SETTINGS[cls]

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this object, as JSON-able values."""
        config = {}
        for argument, attribute in self.setting_names():
            try:
                config[argument] = plain(getattr(self, attribute))
            except AttributeError:
                raise TypeError(
                    f"{type(self).__name__}: the constructor argument {argument!r} is a setting, but the "
                    f"object has no attribute {attribute!r} holding it; store it as self.{attribute}, or "
                    "name it in not_settings (not saved) or setting_attributes (kept under another name)"
                ) from None
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
