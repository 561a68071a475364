"""Safe model files: ``save(model, path)`` and ``load(path)``.

A model file is one ``.npz`` archive holding every parameter and buffer (``state_dict``) plus a
JSON description of the architecture: class names, constructor arguments (``get_config``),
dtype, tinynet version and format version. Files are read with ``allow_pickle=False`` only, so
nothing in them runs, and only registered classes are constructed. Writes are atomic: a temporary
file in the same folder is flushed, fsynced and moved over the target with ``os.replace``.

Custom modules opt in with ``@register_module`` and a ``get_config()`` returning the keyword
arguments that rebuild them; modules with children are rebuilt as ``cls(*children, **config)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

import numpy as np

from tinynet import activations, containers, layers, normalization
from tinynet._checks import Array
from tinynet.module import Module

FORMAT = "tinynet-model"
FORMAT_VERSION = 1
META_KEY = "__tinynet__"
STATE_PREFIX = "state/"

M = TypeVar("M", bound=type[Module])
REGISTRY: dict[str, type[Module]] = {}


class ModelFileError(ValueError):
    """A model file is missing, damaged, foreign, unsafe, or does not fit its architecture."""


def register_module(cls: M) -> M:
    """Allow ``load`` to construct ``cls`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_module expects a Module subclass, got {cls!r}")
    REGISTRY[cls.__name__] = cls
    return cls


def _describe(module: Module) -> dict[str, Any]:
    name = type(module).__name__
    if REGISTRY.get(name) is not type(module):
        raise TypeError(
            f"cannot save {name}: it is not registered; decorate the class with "
            "@tinynet.register_module and give it get_config()"
        )
    return {
        "class": name,
        "config": module.get_config(),
        "children": [_describe(child) for child in module.children()],
    }


def _ties(model: Module) -> dict[str, str]:
    """Parameters used in more than one place (``clone(share_parameters=True)``): alias -> first name."""
    first: dict[int, str] = {}
    ties: dict[str, str] = {}
    for name, param in model._named_parameters_all(""):
        if id(param) in first:
            ties[name] = first[id(param)]
        else:
            first[id(param)] = name
    return ties


def _tie(model: Module, ties: Any, path: str) -> None:
    """Make each alias refer to the same Parameter object as its source again."""
    if not isinstance(ties, dict):
        raise ModelFileError(f"{path}: the list of shared parameters is damaged")
    params = dict(model._named_parameters_all(""))
    for alias, source in ties.items():
        if source not in params or alias not in params:
            raise ModelFileError(f"{path}: shared parameter {alias!r} -> {source!r} is not in the model")
        for prefix, module in model._named_modules():
            for name, _ in list(module._own_parameters()):
                if prefix + name == alias:
                    attribute, _, index = name.partition(".")
                    if index:
                        getattr(module, attribute)[int(index)] = params[source]
                    else:
                        setattr(module, attribute, params[source])


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber another file; mode 0o666 lets the umask decide, as for a plain open()
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_write``)."""
    atomic_write(path, lambda file: file.write(data))


def save(model: Module, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` (architecture, weights, buffers) and optional JSON-able ``metadata`` to ``path``.

    The path is used as given (``.npz`` is the conventional suffix). A failure at any point leaves
    a previous file at ``path`` intact and no temporary file behind.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a tinynet Module, got {type(model).__name__}")
    target = os.fspath(path)
    if os.path.isdir(target):
        raise ValueError(f"path {target!r} is a directory, expected a file name such as model.npz")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tinynet_version": _version(),
        "dtype": str(model.dtype) if model.dtype is not None else None,
        "architecture": _describe(model),
        "tied": _ties(model),
        "metadata": metadata or {},
    }
    try:
        encoded = json.dumps(meta).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"metadata must be JSON-serializable: {error}") from None
    arrays: dict[str, Array] = {
        STATE_PREFIX + k: np.ascontiguousarray(v) for k, v in model.state_dict().items()
    }
    arrays[META_KEY] = np.frombuffer(encoded, dtype=np.uint8)
    atomic_write(target, lambda file: np.savez(file, **arrays))  # type: ignore[arg-type]


def _version() -> str:
    from tinynet import __version__

    return __version__


def _read(path: str) -> tuple[dict[str, Any], dict[str, Array]]:
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    if os.path.getsize(path) == 0:
        raise ModelFileError(f"{path}: the file is empty, not a tinynet model file")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic[:1] == b"\x80":  # the first byte of every pickle since protocol 2
        raise ModelFileError(f"{path}: refused, the file is a pickle; nothing in it was run")
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path}: not a tinynet model file (not an .npz archive)")
    try:
        # our own handle, so it is closed even when NumPy fails half-way through a damaged file
        with open(path, "rb") as handle:
            loaded = np.load(handle, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ModelFileError(
                    f"{path}: not a tinynet model file (a bare .npy array, not an .npz archive)"
                )
            with loaded as archive:
                arrays = {name: archive[name] for name in archive.files}
    except ModelFileError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise ModelFileError(
                f"{path}: refused, the file carries pickled objects; nothing in it was run"
            ) from None
        raise ModelFileError(f"{path}: damaged or not a tinynet model file ({error})") from None
    except Exception as error:  # zipfile, zlib, header parsing: all mean a damaged or foreign file
        raise ModelFileError(
            f"{path}: damaged or not a tinynet model file ({type(error).__name__}: {error})"
        ) from None
    raw = arrays.pop(META_KEY, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: not a tinynet model file (no {META_KEY} description inside)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: the architecture description is damaged ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a tinynet model file (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {meta.get('format_version')!r} is not supported (this tinynet reads "
            f"version {FORMAT_VERSION})"
        )
    state = {k.removeprefix(STATE_PREFIX): v for k, v in arrays.items() if k.startswith(STATE_PREFIX)}
    return meta, state


def _build(spec: Any, path: str, where: str = "model") -> Module:
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
        raise ModelFileError(f"{path}: the architecture description of {where} is damaged")
    name = spec["class"]
    cls = REGISTRY.get(name)
    if cls is None:
        raise ModelFileError(
            f"{path}: {where} is of class {name!r}, which is not registered; known classes are "
            f"{sorted(REGISTRY)} (custom modules need @tinynet.register_module)"
        )
    config, children_specs = spec.get("config", {}), spec.get("children", [])
    if not isinstance(config, dict) or not isinstance(children_specs, list):
        raise ModelFileError(f"{path}: the architecture description of {where} ({name}) is damaged")
    children = [_build(child, path, f"{where}.{i}") for i, child in enumerate(children_specs)]
    try:
        return cls.from_config(config, children)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: cannot rebuild {where} as {name}({config}): {error}") from None


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild the model saved at ``path``; raises ``ModelFileError`` for any problem with the file."""
    target = os.fspath(path)
    meta, state = _read(target)
    model = _build(meta.get("architecture"), target)
    _tie(model, meta.get("tied", {}), target)
    dtype = meta.get("dtype")
    if dtype is not None:
        try:
            model.to(dtype)
        except TypeError as error:
            raise ModelFileError(f"{target}: unsupported dtype {dtype!r} ({error})") from None
    try:
        model.load_state_dict(state)
    except (ValueError, TypeError) as error:
        raise ModelFileError(f"{target}: the weights do not fit the architecture: {error}") from None
    return model


def load_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metadata`` dict stored by ``save`` (plus ``tinynet_version``), without building the model."""
    meta, _ = _read(os.fspath(path))
    extra = meta.get("metadata", {})
    result = dict(extra) if isinstance(extra, dict) else {}
    result["tinynet_version"] = meta.get("tinynet_version")
    return result


for _builtin in (
    activations.Identity,
    activations.ReLU,
    activations.LeakyReLU,
    activations.Sigmoid,
    activations.Tanh,
    activations.Softmax,
    activations.GELU,
    activations.ELU,
    activations.Softplus,
    containers.Sequential,
    containers.Residual,
    containers.Concat,
    layers.Dense,
    layers.Dropout,
    layers.Flatten,
    normalization.BatchNorm1d,
    normalization.LayerNorm,
):
    register_module(_builtin)
