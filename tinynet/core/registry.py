"""The registry of Module classes that model files may name.

A model file stores each module's registered name and configuration; ``tinynet.load`` builds only
classes found here. Built-in layers register themselves where they are defined. A name can never
silently change meaning: registering a different class under a taken name is a ``ValueError``
unless ``replace=True`` is passed (re-running the same class definition, as a notebook or a module
reload does, replaces quietly).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TypeVar, overload

from tinynet.core.module import Module

M = TypeVar("M", bound=type[Module])

_CLASSES: dict[str, type[Module]] = {}
_NAMES: dict[type[Module], str] = {}

# The modules defining built-in layers, imported before the registry is first read (``import
# tinynet`` loads them lazily) or a class from outside tinynet is registered (built-ins come first).
BUILTIN_MODULES = tuple(
    f"tinynet.layers.{family}"
    for family in (
        "activation",
        "attention",
        "containers",
        "conv",
        "core",
        "embedding",
        "graph",
        "merge",
        "normalization",
        "pooling",
        "recurrent",
    )
)


@functools.cache  # once imported, they stay imported
def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@overload
def register_module(cls: M, *, name: str | None = None, replace: bool = False) -> M: ...


@overload
def register_module(
    cls: None = None, *, name: str | None = None, replace: bool = False
) -> Callable[[M], M]: ...


def register_module(
    cls: M | None = None, *, name: str | None = None, replace: bool = False
) -> M | Callable[[M], M]:
    """Allow ``tinynet.load`` to build ``cls``: ``@register_module`` or ``@register_module(name=...)``.

    ``name`` (default: the class name) is what model files store. A name already taken by another
    class raises ``ValueError`` naming both, unless ``replace=True``.
    """

    def register(klass: M) -> M:
        if not (isinstance(klass, type) and issubclass(klass, Module)):
            raise TypeError(f"register_module expects a Module subclass, got {klass!r}")
        if not klass.__module__.startswith("tinynet."):
            _load_builtins()
        key = klass.__name__ if name is None else name
        if not isinstance(key, str) or not key:
            raise ValueError(f"register_module: name must be a non-empty string, got {key!r}")
        taken = _CLASSES.get(key)
        if taken is not None and taken is not klass and _origin(taken) != _origin(klass) and not replace:
            raise ValueError(
                f"register_module: the name {key!r} is already registered for {_origin(taken)}; "
                f"register {_origin(klass)} under another name (register_module(name='mypackage.{key}')) "
                "or pass replace=True to replace it"
            )
        if taken is not None:
            _NAMES.pop(taken, None)
        _CLASSES[key] = klass
        _NAMES[klass] = key
        return klass

    return register if cls is None else register(cls)


def registered_name(cls: type[Module]) -> str | None:
    """The name ``cls`` is registered under, or None."""
    return _NAMES.get(cls)


def registered_class(name: str) -> type[Module] | None:
    """The class registered under ``name``, or None."""
    _load_builtins()
    return _CLASSES.get(name)


def registered_names() -> list[str]:
    """Every registered name, sorted."""
    _load_builtins()
    return sorted(_CLASSES)
