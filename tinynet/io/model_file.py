"""Safe model files: ``save(model, path)``, ``load(path)`` and ``load_metadata(path)``.

A model file is one ``.npz`` archive: ``state/<name>.npy`` for every parameter and buffer
(``state_dict``) and ``__tinynet__.npy``, a JSON description of the architecture (each module's
registered name, ``get_config()`` and children), the shared parameters, tinynet's version and the
caller's metadata. Custom modules opt in with ``@tinynet.register_module`` and their ``settings``
(or a ``get_config`` returning the keyword arguments that rebuild them); modules with children are
rebuilt as ``cls(*children, **config)``. ``save`` rebuilds every module from its configuration
before writing, so a class that cannot be rebuilt fails at save time, not at load time.

``load`` trusts nothing in the file:
- nothing is unpickled, and only members the format names are read; each member's size declared
  in the zip directory must match its ``.npy`` header before a byte is decompressed, and a name may
  appear once;
- the JSON is bounded in size, nesting depth and number length;
- only registered classes are built, with no random initialization and under an allocation budget
  of the file's own arrays; every shape is checked against the stored headers before any weight
  is read, and weights are read straight into the model. Peak memory is the model plus a small
  constant;
- every problem, whatever its kind, is a ``ModelFileError`` with the path and what was wrong.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from typing import IO, Any, cast

import numpy as np

from tinynet._version import __version__
from tinynet.core.checks import Array, fmt_shape
from tinynet.core.config import plain
from tinynet.core.files import atomic_write, check_fits_in_memory, open_regular
from tinynet.core.module import Module, state_problems
from tinynet.core.parameter import AllocationRefusedError, allocation_budget
from tinynet.core.registry import register_module, registered_class, registered_name, registered_names

FORMAT = "tinynet-model"
FORMAT_VERSION = 1
META_KEY = "__tinynet__"
META_MEMBER = META_KEY + ".npy"
STATE_PREFIX = "state/"
EXTRA_PREFIX = "extra/"
MAX_META_BYTES = 16 * 2**20
# Upper estimates of what json.loads allocates (CPython 3.10-3.13, tracemalloc's sizes with their
# headers), per container opened, per item (each "," or ":"), per string, per character (4: a
# string holding one character beyond U+FFFF takes 4 bytes for each); measured worst cases for
# one shape each ("[[1]],..." 31 bytes per byte, "[],..." 22, "{}" 24) stay below the estimate.
PARSED_COST = {"container": 96, "item": 48, "string": 80, "character": 4}
MAX_PARSED_BYTES = 128 * 2**20  # what parsing may take: Graphs to ~60,000 nodes (16 MiB could ask 0.5 GB)
MAX_DEPTH = 64  # modules nested deeper than this are refused (far beyond any real model)
MAX_NUMBER_DIGITS = 30
BUDGET_SLACK = 2**20  # elements a rebuilt architecture may ask for beyond the stored arrays (8 MiB)
NPY_HEADER_LIMIT = 10000
READ_CHUNK = 2**20
LOCAL_HEADER = 30  # bytes of a zip member's local header before its name
MAX_MEMBERS = 100_000  # zipfile keeps ~0.5 kB per listed member: at most ~50 MB for the directory
DEFLATE_RATIO = 1032  # deflate's largest possible expansion: more is not compressed data

__all__ = ["ModelFileError", "load", "load_metadata", "register_module", "save"]


class ModelFileError(ValueError):
    """A model file is missing, damaged, foreign, unsafe, or does not fit its architecture."""


# -- saving ------------------------------------------------------------------------------------------
def _rebuild_check(module: Module, name: str, config: dict[str, Any], where: str) -> None:
    """Rebuild ``module`` from its JSON-decoded ``config`` (and its own children) and compare."""
    cls = type(module)
    try:
        decoded = json.loads(json.dumps(config))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot save {where} ({name}): get_config() is not JSON-serializable: {error}"
        ) from None
    own = {n: s for n, s in _own_shapes(module).items()}
    try:
        with allocation_budget(
            sum(math.prod(s) for s in own.values()), max((math.prod(s) for s in own.values()), default=0)
        ):
            rebuilt = cls.from_config(decoded, list(module.children()))
    except Exception as error:
        raise TypeError(
            f"cannot save {where}: {name}.from_config({decoded}) fails ({type(error).__name__}: {error}); "
            "list the constructor arguments in `settings` (or return them from get_config()) so that "
            "load can rebuild it"
        ) from None
    if type(rebuilt) is not cls or _own_shapes(rebuilt) != own:
        raise TypeError(
            f"cannot save {where}: {name} rebuilt from get_config() {decoded} has parameters "
            f"{_own_shapes(rebuilt)}, expected {own}; get_config() must describe the module completely"
        )


def _own_shapes(module: Module) -> dict[str, tuple[int, ...]]:
    """Shapes of the parameters and buffers a module holds itself (not its children's)."""
    children = {name for name, _ in module.named_children()}
    return {
        name: shape
        for name, shape in module.state_shapes().items()
        if not any(name.startswith(child + ".") for child in children)
    }


def _describe(module: Module, where: str = "model", depth: int = 0) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ValueError(f"cannot save {where}: modules nested more than {MAX_DEPTH} deep")
    name = registered_name(type(module))
    if name is None:
        raise TypeError(
            f"cannot save {where} of class {type(module).__name__}: it is not registered; decorate the "
            "class with @tinynet.register_module and declare its constructor arguments in `settings`"
        )
    config = module.get_config()
    _rebuild_check(module, name, config, where)
    return {
        "class": name,
        "config": plain(config),
        "children": [
            _describe(child, f"{where}.{child_name}", depth + 1)
            for child_name, child in module.named_children()
        ],
    }


def _ties(model: Module) -> dict[str, str]:
    """Parameters used in more than one place (``clone(share_parameters=True)``): alias -> first name."""
    first: dict[int, str] = {}
    ties: dict[str, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            ties[name] = first[id(param)]
        else:
            first[id(param)] = name
    return ties


def save(model: Module, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` (architecture, weights, buffers) and optional JSON-able ``metadata`` to ``path``.

    The path is used as given (``.npz`` is the conventional suffix); a symlink is written through.
    A failure at any point leaves a previous file at ``path`` intact and no temporary file behind.
    """
    write_archive(model, path, metadata)


def write_archive(
    model: Module,
    path: str | os.PathLike[str],
    metadata: dict[str, Any] | None = None,
    extra: dict[str, Array] | None = None,
) -> None:
    """``save``, with ``extra`` arrays stored beside the weights as ``extra/<name>.npy`` (what a
    training checkpoint adds: the optimizer's state and the callbacks' arrays)."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a tinynet Module, got {type(model).__name__}")
    target = os.fspath(path)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tinynet_version": __version__,
        "dtype": str(model.dtype) if model.dtype is not None else None,
        "architecture": _describe(model),
        "tied": _ties(model),
        "metadata": metadata or {},
    }
    try:
        encoded = json.dumps(meta, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"metadata must be JSON-serializable (finite numbers only): {error}") from None
    arrays: dict[str, Array] = {
        STATE_PREFIX + k: np.ascontiguousarray(v) for k, v in model.state_dict().items()
    }
    arrays.update((EXTRA_PREFIX + k, np.ascontiguousarray(v)) for k, v in (extra or {}).items())
    arrays[META_KEY] = np.frombuffer(encoded, dtype=np.uint8)
    atomic_write(target, lambda file: np.savez(file, **arrays))  # type: ignore[arg-type]


# -- reading -----------------------------------------------------------------------------------------
class _Member:
    """A ``.npy`` member whose header has been read and checked: dtype, shape and where the data is."""

    def __init__(
        self, info: zipfile.ZipInfo, dtype: np.dtype[Any], shape: tuple[int, ...], offset: int
    ) -> None:
        self.info, self.dtype, self.shape, self.offset = info, dtype, shape, offset

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> _Member:
    """Read and check the ``.npy`` header of ``info`` without decompressing its data."""
    label = f"{path}: member {info.filename!r}"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"{label} uses an unsupported compression")
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        reader = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = reader(stream, max_header_size=NPY_HEADER_LIMIT)
        offset = stream.tell()
    if dtype.hasobject or dtype.kind not in "fiub" or dtype.subdtype is not None or dtype.names is not None:
        raise ModelFileError(f"{label} holds dtype {dtype}; refused (nothing but plain numbers is read)")
    if fortran and len(shape) > 1:
        raise ModelFileError(f"{label} is stored in Fortran order, which tinynet never writes")
    declared = offset + math.prod(shape) * dtype.itemsize
    if info.file_size != declared:
        raise ModelFileError(
            f"{label} declares {info.file_size} bytes but its header implies {declared} "
            f"(shape {fmt_shape(tuple(shape))}, dtype {dtype})"
        )
    return _Member(info, dtype, tuple(shape), offset)


def _directory(archive: zipfile.ZipFile, path: str) -> tuple[_Member, dict[str, _Member]]:
    """The checked headers of the description and of every ``state/`` member (other names are ignored)."""
    infos = archive.infolist()
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise ModelFileError(f"{path}: member {info.filename!r} appears twice in the archive")
        seen.add(info.filename)
    length = os.fstat(archive.fp.fileno()).st_size if archive.fp is not None else 0
    for info in infos:  # what a member declares must be in the file: nothing is sized from a claim
        wanted = info.filename == META_MEMBER or info.filename.startswith(STATE_PREFIX)
        end = info.header_offset + LOCAL_HEADER + len(info.filename.encode()) + info.compress_size
        if wanted and end > length:
            raise ModelFileError(
                f"{path}: member {info.filename!r} declares {info.compress_size} bytes beyond the end of "
                f"the file ({length} bytes); the file is truncated or crafted"
            )
        if (
            wanted
            and info.compress_type == zipfile.ZIP_DEFLATED
            and info.file_size > DEFLATE_RATIO * (info.compress_size + 1)
        ):
            raise ModelFileError(
                f"{path}: member {info.filename!r} declares {info.file_size} bytes from {info.compress_size} "
                "compressed, more than deflate can produce; refused"
            )
    meta_info = next((i for i in infos if i.filename == META_MEMBER), None)
    if meta_info is None:
        raise ModelFileError(f"{path}: not a tinynet model file (no {META_KEY} description inside)")
    if meta_info.file_size > MAX_META_BYTES:
        raise ModelFileError(
            f"{path}: the architecture description declares {meta_info.file_size} bytes; refused"
        )
    meta = _header(archive, meta_info, path)
    if meta.dtype != np.uint8 or len(meta.shape) != 1:
        raise ModelFileError(f"{path}: not a tinynet model file (the {META_KEY} description is not text)")
    state = {}
    for info in infos:
        if info.filename.startswith(STATE_PREFIX) and info.filename.endswith(".npy"):
            state[info.filename[len(STATE_PREFIX) : -len(".npy")]] = _header(archive, info, path)
    return meta, state


def _json_shape(data: bytes, chunk: int = 2**18) -> tuple[int, int]:
    """The deepest nesting of brackets outside strings, and an upper estimate of the bytes
    ``json.loads`` will allocate for the text (see ``PARSED_COST``), in one vectorized pass over
    chunks of it: time linear in its length, memory bounded by the chunk (no recursion, and no
    regular expression that could rescan the text from every quote). ``data``: the UTF-8 text."""
    deepest = depth = run = 0  # run: the backslashes just before the chunk
    inside = 0  # 1 when the chunk starts inside a string
    opened = separators = quotes = in_strings = 0
    for start in range(0, len(data), chunk):
        raw = np.frombuffer(data, dtype=np.uint8, count=min(chunk, len(data) - start), offset=start)
        backslash = raw == ord("\\")
        position = np.arange(raw.size, dtype=np.int64)
        last_other = np.maximum.accumulate(np.where(backslash, -1, position))
        ending = np.where(backslash, position - last_other + np.where(last_other < 0, run, 0), 0)
        before = np.concatenate(([run], ending[:-1]))  # backslashes just before each byte
        quote = (raw == ord('"')) & (before % 2 == 0)  # a quote after an odd run is escaped
        parity = (np.cumsum(quote) + inside) % 2  # brackets are never quotes: 0 means outside
        outside = parity == 0
        opening = np.isin(raw, (ord("["), ord("{"))) & outside
        delta = opening.astype(np.int64) - (np.isin(raw, (ord("]"), ord("}"))) & outside)
        levels = depth + np.cumsum(delta)
        deepest = max(deepest, int(levels.max()))
        depth, inside, run = int(levels[-1]), int(parity[-1]), int(ending[-1])
        opened += int(opening.sum())
        separators += int((np.isin(raw, (ord(","), ord(":"))) & outside).sum())
        quotes += int(quote.sum())
        in_strings += int(parity.sum())
    cost = PARSED_COST
    estimate = (
        cost["container"] * opened
        + cost["item"] * (separators + 1)
        + cost["string"] * (quotes // 2)
        + cost["character"] * (in_strings + len(data))  # the strings, and the decoded text itself
    )
    return deepest, estimate


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _decode_meta(raw: bytes, path: str) -> dict[str, Any]:
    try:
        depth, estimate = _json_shape(raw)
        if depth > 4 * MAX_DEPTH:
            raise ValueError(f"nested more than {4 * MAX_DEPTH} levels deep")
        if estimate > MAX_PARSED_BYTES:
            raise ValueError(
                f"its {len(raw):,} bytes would take about {estimate / 2**20:,.0f} MiB to parse, more than "
                f"{MAX_PARSED_BYTES // 2**20} MiB (a real description takes a few)"
            )
        text = raw.decode("utf-8")
        meta = json.loads(text, parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelFileError(f"{path}: the architecture description is damaged ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a tinynet model file (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {meta.get('format_version')!r} is not supported (this tinynet reads "
            f"version {FORMAT_VERSION})"
        )
    return meta


def _read_data(archive: zipfile.ZipFile, member: _Member) -> bytes:
    with archive.open(member.info) as stream:
        stream.seek(member.offset)
        return stream.read(member.info.file_size - member.offset)


def _fill(archive: zipfile.ZipFile, member: _Member, target: Array, path: str) -> None:
    """Read a member's data straight into ``target`` (no second copy when dtypes agree)."""
    with archive.open(member.info) as opened:
        stream = cast(io.BufferedIOBase, opened)
        stream.seek(member.offset)
        if member.dtype == target.dtype and target.flags.c_contiguous:
            view = memoryview(cast(Any, target.reshape(-1).view(np.uint8)))
            got = 0
            while got < len(view):  # in chunks: zipfile's readinto reads a whole request at once
                count = stream.readinto(view[got : got + READ_CHUNK])
                if not count:
                    raise ModelFileError(f"{path}: member {member.info.filename!r} is truncated")
                got += count
        else:  # another dtype: converted chunk by chunk, never a whole second copy of the member
            flat = target.reshape(-1)
            if not np.shares_memory(flat, target):  # pragma: no cover - parameters are contiguous
                raise ModelFileError(f"{path}: member {member.info.filename!r} cannot be read in place")
            step = max(1, READ_CHUNK // member.dtype.itemsize)
            for start in range(0, member.size, step):
                count = min(step, member.size - start)
                data = np.frombuffer(stream.read(count * member.dtype.itemsize), dtype=member.dtype)
                if data.size != count:
                    raise ModelFileError(f"{path}: member {member.info.filename!r} is truncated")
                flat[start : start + count] = data


def _listed_members(handle: IO[bytes]) -> int:
    """How many members the zip's end record says its directory lists (0 when there is none to
    read: ``zipfile`` then reports the damage). Read before ``zipfile`` parses every listing."""
    end = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, end - 22 - 65535))  # the end record, after at most a 64 KiB comment
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0
    count = int.from_bytes(tail[at + 10 : at + 12], "little")
    if count == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zip64: its own record
        handle.seek(int.from_bytes(tail[at - 12 : at - 4], "little"))
        record = handle.read(56)
        if record[:4] == b"PK\x06\x06" and len(record) == 56:
            count = int.from_bytes(record[32:40], "little")
    return count


def _open_archive(path: str) -> tuple[IO[bytes], zipfile.ZipFile]:
    try:
        handle = open_regular(path)
    except ValueError as error:
        raise ModelFileError(str(error).replace(": no such file", ": no such model file")) from None
    magic = handle.read(4)
    if not magic:
        handle.close()
        raise ModelFileError(f"{path}: the file is empty, not a tinynet model file")
    if magic[:1] == b"\x80":  # the first byte of every pickle since protocol 2
        handle.close()
        raise ModelFileError(f"{path}: refused, the file is a pickle; nothing in it was run")
    if magic != b"PK\x03\x04":
        handle.close()
        raise ModelFileError(f"{path}: not a tinynet model file (not an .npz archive)")
    listed = _listed_members(handle)
    if listed > MAX_MEMBERS:
        handle.close()
        raise ModelFileError(
            f"{path}: the archive lists {listed:,} members, more than the {MAX_MEMBERS:,} a model file may "
            "have; refused before reading its directory"
        )
    handle.seek(0)
    try:
        return handle, zipfile.ZipFile(handle)
    except Exception as error:
        handle.close()
        raise ModelFileError(f"{path}: damaged or not a tinynet model file ({error})") from None


def _guarded(path: str, work: Any) -> Any:
    """Run ``work()``; any failure that is not already a ``ModelFileError`` becomes one."""
    try:
        return work()
    except ModelFileError:
        raise
    except MemoryError:
        raise ModelFileError(f"{path}: the model does not fit in this machine's memory") from None
    except Exception as error:  # zipfile, zlib, headers, constructors: a damaged or hostile file
        raise ModelFileError(
            f"{path}: damaged or not a tinynet model file ({type(error).__name__}: {error})"
        ) from None


def _build(spec: Any, path: str, where: str = "model", depth: int = 0) -> Module:
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{path}: {where} is nested more than {MAX_DEPTH} modules deep; refused")
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
        raise ModelFileError(f"{path}: the architecture description of {where} is damaged")
    name = spec["class"]
    cls = registered_class(name)
    if cls is None:
        raise ModelFileError(
            f"{path}: {where} is of class {_short(name)}, which is not registered; known classes are "
            f"{registered_names()} (custom modules need @tinynet.register_module)"
        )
    config, children_specs = spec.get("config", {}), spec.get("children", [])
    if not isinstance(config, dict) or not isinstance(children_specs, list):
        raise ModelFileError(f"{path}: the architecture description of {where} ({name}) is damaged")
    children = [_build(child, path, f"{where}.{i}", depth + 1) for i, child in enumerate(children_specs)]
    try:
        return cls.from_config(config, children)
    except AllocationRefusedError as error:
        raise ModelFileError(f"{path}: {where} ({name}) does not fit the stored weights: {error}") from None
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: cannot rebuild {where} as {name}({_short(config)}): {error}") from None


def _short(value: Any, limit: int = 200) -> str:
    """``repr(value)`` for a message, cut at ``limit`` characters (a file may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _checked_ties(ties: Any, path: str) -> dict[str, str]:
    if not isinstance(ties, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in ties.items()
    ):
        raise ModelFileError(f"{path}: the list of shared parameters is damaged")
    return ties


def _tie(model: Module, ties: dict[str, str], path: str) -> None:
    """Make each alias refer to the same Parameter object as its source again."""
    params = dict(model.named_parameters(remove_duplicate=False))
    for alias, source in ties.items():
        if source not in params or alias not in params or alias == source:
            raise ModelFileError(f"{path}: shared parameter {alias!r} -> {source!r} is not in the model")
        if params[alias].shape != params[source].shape:
            raise ModelFileError(
                f"{path}: shared parameter {alias!r} has shape {fmt_shape(params[alias].shape)} but its "
                f"source {source!r} has {fmt_shape(params[source].shape)}"
            )
        model.set_parameter(alias, params[source])


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild the model saved at ``path``; raises ``ModelFileError`` for any problem with the file."""
    target = os.fspath(path)
    handle, archive = _open_archive(target)
    with handle, archive:

        def work() -> Module:
            meta_member, members = _directory(archive, target)
            meta = _decode_meta(_read_data(archive, meta_member), target)
            ties = _checked_ties(meta.get("tied", {}), target)
            check_fits_in_memory(
                sum(m.size * m.dtype.itemsize for m in members.values()), f"{target}: the model"
            )
            # the architecture may allocate what the file stores, once more for each tied alias, plus
            # a little slack so that a small mismatch reaches the precise shape report below
            total = sum(m.size for m in members.values())
            total += sum(members[s].size for s in ties.values() if s in members) + BUDGET_SLACK
            largest = max([BUDGET_SLACK, *(m.size for m in members.values())])
            with allocation_budget(total, largest, transient=total):  # example batches too
                model = _build(meta.get("architecture"), target)
            _tie(model, ties, target)
            expected = model.state_shapes()
            problems = state_problems(expected, {name: (m.shape, m.dtype) for name, m in members.items()})
            if problems:
                raise ModelFileError(f"{target}: the weights do not fit the architecture: {problems}")
            targets = {name: param.data for name, param in model.named_parameters()}
            targets.update(model.named_buffers())
            for name, member in members.items():
                _fill(archive, member, targets[name], target)
            return model

        result: Module = _guarded(target, work)
        return result


def read_into(path: str | os.PathLike[str], model: Module, extra: dict[str, Array]) -> dict[str, Any]:
    """Fill ``model`` and the ``extra`` arrays from a file ``write_archive`` wrote, in place, and
    return its metadata. The file must describe ``model``'s architecture exactly and hold every
    weight and every named extra array in its shape: nothing new is allocated, so the memory used
    is what the caller's arrays already take. Any problem is a ``ModelFileError`` and leaves the
    model and the arrays untouched."""
    target = os.fspath(path)
    handle, archive = _open_archive(target)
    with handle, archive:

        def work() -> dict[str, Any]:
            meta_member, members = _directory(archive, target)
            meta = _decode_meta(_read_data(archive, meta_member), target)
            if meta.get("architecture") != json.loads(json.dumps(_describe(model))):
                raise ModelFileError(f"{target}: the file holds another architecture than this model's")
            problems = state_problems(
                model.state_shapes(), {name: (m.shape, m.dtype) for name, m in members.items()}
            )
            stored = {
                info.filename[len(EXTRA_PREFIX) : -len(".npy")]: info
                for info in archive.infolist()
                if info.filename.startswith(EXTRA_PREFIX) and info.filename.endswith(".npy")
            }
            headers = {name: _header(archive, info, target) for name, info in stored.items()}
            extra_problems = state_problems(
                {name: array.shape for name, array in extra.items()},
                {name: (m.shape, m.dtype) for name, m in headers.items()},
            )
            if problems or extra_problems:
                raise ModelFileError(
                    f"{target}: the file does not fit this training run: {problems or extra_problems}"
                )
            targets = {name: param.data for name, param in model.named_parameters()}
            targets.update(model.named_buffers())
            staged = {name: np.empty_like(t) for name, t in targets.items()}  # all or nothing
            for name, member in members.items():
                _fill(archive, member, staged[name], target)
            staged_extra = {name: np.empty_like(array) for name, array in extra.items()}
            for name, member in headers.items():
                _fill(archive, member, staged_extra[name], target)
            for name, value in staged.items():
                np.copyto(targets[name], value)
            for name, value in staged_extra.items():
                np.copyto(extra[name], value)
            found = meta.get("metadata", {})
            if not isinstance(found, dict):
                raise ModelFileError(f"{target}: the metadata is damaged (not a JSON object)")
            return found

        result: dict[str, Any] = _guarded(target, work)
        return result


def load_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metadata`` dict stored by ``save`` (plus ``tinynet_version``), without building the model."""
    target = os.fspath(path)
    handle, archive = _open_archive(target)
    with handle, archive:

        def work() -> dict[str, Any]:
            meta_member, _ = _directory(archive, target)
            meta = _decode_meta(_read_data(archive, meta_member), target)
            extra = meta.get("metadata", {})
            if not isinstance(extra, dict):
                raise ModelFileError(f"{target}: the metadata is damaged (not a JSON object)")
            return {**extra, "tinynet_version": meta.get("tinynet_version")}

        result: dict[str, Any] = _guarded(target, work)
        return result
