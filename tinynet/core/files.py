"""Files: atomic writes that never replace what they should not, and reads of regular files only.

Writing (``atomic_write``):
- the data goes to a temporary file in the target's folder, is flushed and fsynced, and is moved
  over the target with ``os.replace``: a reader sees the old file or the new one, never half;
- a symlink is written *through*: the file it points to is replaced, the link stays a link;
- anything at the target that is not a regular file (a directory, FIFO, device, socket) is
  refused with a ``ValueError``, so ``--save /dev/null`` can never replace the null device;
- an overwritten file keeps its permission bits; a new one gets what ``open()`` would give;
- the temporary name has a fixed length (a valid file name never becomes too long) and is derived
  from the target's name, so a later save of the same path removes temporaries left by a killed
  one. A temporary is locked while written (``flock``) and only unlocked ones are removed: a live
  writer's file is never touched.

Reading (``open_regular``): opening a FIFO would block forever and a device may never end, so only
regular files are read; anything else is a ``ValueError`` naming the path and what it is.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, no stale-file cleanup
    fcntl = None  # type: ignore[assignment]


def kind_of(mode: int) -> str:
    """A readable name for the file type in ``mode``."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file, else raise ``ValueError``.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so a FIFO
    is refused at once (no hang) and nothing can swap the file between the check and the read.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, expected a file") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise ValueError(f"{path}: is {kind_of(mode)}, expected a regular file")
    return os.fdopen(descriptor, "rb")


def _temporary_prefix(target: str) -> str:
    digest = hashlib.sha256(os.path.basename(target).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f".tn-{digest}-"


def _remove_stale_temporaries(folder: str, prefix: str) -> None:
    """Delete ``prefix*.tmp`` files that no live writer holds locked (left by a killed save)."""
    if fcntl is None:  # pragma: no cover
        return
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a writer is alive
            if stat.S_ISREG(os.fstat(descriptor).st_mode):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(descriptor)


def _locked_temporary(folder: str, prefix: str, name: str, typed: str) -> tuple[str, int]:
    """A new temporary file beside the target, created (never over another file) and locked.

    Another process's save may clean up between the creation and the lock, taking the new file for
    a killed save's leftover: once locked, the file is checked to be still the one at its name, and
    made again if not. A cleaner never removes a locked file, so from then on it stays.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}.tmp")
        try:  # O_EXCL: never clobber another file; mode 0o666 lets the umask decide, as a plain open()
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as error:
            raise OSError(error.errno, f"{error.strerror} (writing {name} into)", typed) from None
        if fcntl is None:  # pragma: no cover - no cleaner runs without locks
            return tmp, handle
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.stat(tmp).st_ino == os.fstat(handle).st_ino:
                return tmp, handle
        except FileNotFoundError:
            pass
        os.close(handle)  # removed by another save's clean-up before the lock: make another
    raise OSError(errno.EAGAIN, f"could not keep a temporary file to write {name} into", typed)


def writable_target(path: str) -> str:
    """The file a write to ``path`` replaces (symlinks resolved); ``ValueError`` if not a regular file."""
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: is {kind_of(mode)}; refusing to replace it with a file")
    return target


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it over ``path``."""
    target = writable_target(path)
    folder = os.path.dirname(target)
    prefix = _temporary_prefix(target)
    _remove_stale_temporaries(folder, prefix)
    typed = os.path.dirname(path) or "."  # errors name the folder the user typed, not the temporary
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"no such folder to write {os.path.basename(path)} into", typed)
    tmp, handle = _locked_temporary(folder, prefix, os.path.basename(path), typed)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(handle, stat.S_IMODE(os.stat(target).st_mode))  # keep an overwritten file's bits
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
            os.replace(tmp, target)  # while still locked: a cleaner never sees an unlocked temporary
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


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        return None


def check_fits_in_memory(needed: int, what: str) -> None:
    """Raise ``ValueError`` with a readable message when ``needed`` bytes exceed what is available."""
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{what} needs {needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB "
            "of memory available on this machine"
        )
