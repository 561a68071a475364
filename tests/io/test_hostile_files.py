"""Model files built by an attacker, and saves aimed at what must not be replaced.

Every hostile file is built here by code. Loading one gives ``ModelFileError`` and nothing else,
in bounded time and memory (measured with tracemalloc, which sees every NumPy allocation).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import socket
import stat
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.core import files as _io
from tinynet.io.model_file import META_KEY

MiB = 2**20


def npy(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def meta(architecture: Any, tied: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "format": "tinynet-model",
        "format_version": 1,
        "tinynet_version": tn.__version__,
        "dtype": "float64",
        "architecture": architecture,
        "tied": tied or {},
        "metadata": {},
        **extra,
    }


def dense(n_in: int, n_out: int) -> dict[str, Any]:
    config = {"in_features": n_in, "out_features": n_out, "bias": True, "dtype": "float64"}
    return {"class": "Dense", "config": config, "children": []}


def sequential(*children: Any) -> dict[str, Any]:
    return {"class": "Sequential", "config": {}, "children": list(children)}


def write(path: Path, members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as archive:
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name: that is the point
        for name, data in members:
            archive.writestr(name, data)
    return path


def object_member() -> bytes:
    """An .npy member declaring dtype object (NumPy would pickle its elements)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return header.getvalue() + pickle.dumps(None)


def model_file(path: Path, description: Any, state: dict[str, Any], raw_meta: bytes | None = None) -> Path:
    text = raw_meta if raw_meta is not None else json.dumps(description).encode()
    members = [(META_KEY + ".npy", npy(np.frombuffer(text, np.uint8)))]
    members += [(f"state/{k}.npy", npy(v)) for k, v in state.items()]
    return write(path, members)


SMALL_STATE = {"0.weight": np.ones((4, 3)), "0.bias": np.zeros(3)}


def peak_while(work: Callable[[], Any]) -> tuple[int, int]:
    """The peak of traced allocations while ``work`` runs, and how many bytes it decompressed."""
    read, readinto = zipfile.ZipExtFile.read, zipfile.ZipExtFile.readinto
    decompressed = [0]

    def counted_read(self: Any, n: int = -1) -> bytes:
        data = read(self, n)
        decompressed[0] += len(data)
        return data

    def counted_readinto(self: Any, buffer: Any) -> int:
        count = readinto(self, buffer)
        decompressed[0] += count
        return count

    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(zipfile.ZipExtFile, "read", counted_read)
            patch.setattr(zipfile.ZipExtFile, "readinto", counted_readinto)
            work()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, decompressed[0]


def deep(levels: int) -> bytes:
    """A description of Sequentials nested ``levels`` deep, written as text (json.dumps would recurse)."""
    inner = json.dumps(dense(4, 3))
    spec = '{"class": "Sequential", "config": {}, "children": [' * levels + inner + "]}" * levels
    text = json.dumps(meta("ARCH")).replace('"ARCH"', spec)
    return text.encode()


HOSTILE: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "declares Dense(12000, 12000) beside 4x3 weights",
        lambda p: model_file(p, meta(sequential(dense(12000, 12000))), SMALL_STATE),
        r"model\.0 \(Dense\) does not fit the stored weights",
    ),
    (
        "declares Dense(1e5, 1e5)",
        lambda p: model_file(p, meta(sequential(dense(100000, 100000))), SMALL_STATE),
        "does not fit the stored weights",
    ),
    (
        "declares BatchNorm1d of 1e10 features",
        lambda p: model_file(
            p,
            meta({"class": "BatchNorm1d", "config": {"num_features": 10**10}, "children": []}),
            {"weight": np.ones(3)},
        ),
        r"model \(BatchNorm1d\) does not fit the stored weights",
    ),
    ("nested 500 deep", lambda p: model_file(p, None, {}, raw_meta=deep(500)), "nested more than"),
    (
        "tie list is a list",
        lambda p: model_file(p, meta(sequential(dense(4, 3)), tied=["0.weight"]), SMALL_STATE),
        "list of shared parameters is damaged",
    ),
    (
        "tie to a parameter that is not there",
        lambda p: model_file(p, meta(sequential(dense(4, 3)), tied={"0.weight": "9.weight"}), SMALL_STATE),
        "shared parameter '0.weight' -> '9.weight' is not in the model",
    ),
    (
        "tie between shapes that differ",
        lambda p: model_file(
            p,
            meta(sequential(dense(4, 3), dense(3, 3)), tied={"1.weight": "0.weight"}),
            {**SMALL_STATE, "1.bias": np.zeros(3)},
        ),
        r"'1\.weight' has shape \(3, 3\) but its source '0\.weight' has \(4, 3\)",
    ),
    (
        "a 5000-digit integer",
        lambda p: model_file(
            p, None, SMALL_STATE, raw_meta=b'{"format": "tinynet-model", "x": ' + b"9" * 5000 + b"}"
        ),
        "an integer of 5000 digits",
    ),
    (
        "JSON nested 100000 deep",
        lambda p: model_file(p, None, {}, raw_meta=b"[" * 100000 + b"]" * 100000),
        "nested more than",
    ),
    (
        "a member name twice",
        lambda p: write(
            p, [(META_KEY + ".npy", npy(np.frombuffer(b"{}", np.uint8)))] * 2 + [("state/a.npy", npy([1.0]))]
        ),
        "appears twice in the archive",
    ),
    (
        "an object array",
        lambda p: write(
            p,
            [
                (META_KEY + ".npy", npy(np.frombuffer(json.dumps(meta(dense(4, 3))).encode(), np.uint8))),
                ("state/weight.npy", object_member()),
            ],
        ),
        "holds dtype object; refused",
    ),
    (
        "declared size disagrees with the header",
        lambda p: write(
            p,
            [
                (META_KEY + ".npy", npy(np.frombuffer(json.dumps(meta(dense(4, 3))).encode(), np.uint8))),
                ("state/weight.npy", npy(np.ones((4, 3)))[:-8]),
            ],
        ),
        "declares .* bytes but its header implies",
    ),
    (
        "description declared as 32 MiB",
        lambda p: write(p, [(META_KEY + ".npy", npy(np.zeros(32 * MiB, np.uint8)))], zipfile.ZIP_DEFLATED),
        "the architecture description declares",
    ),
    (
        "weights of another architecture",
        lambda p: model_file(p, meta(sequential(dense(4, 5))), SMALL_STATE),
        r"0\.weight: expected \(4, 5\), got \(4, 3\)",
    ),
    ("a directory", lambda p: (p.mkdir(), p)[1], "is a directory"),
    ("a FIFO", lambda p: (os.mkfifo(p), p)[1], r"is a FIFO \(named pipe\), expected a regular file"),
    ("a symlink to a FIFO", lambda p: symlink_to_fifo(p), "is a FIFO"),
    ("a pickle of a model", lambda p: (p.write_bytes(pickle.dumps(tn.Dense(2, 2))), p)[1], "is a pickle"),
    (
        "an unknown class",
        lambda p: model_file(p, meta({"class": "os.system", "config": {}, "children": []}), {}),
        "'os.system', which is not registered",
    ),
]


FILE_LEVEL = {
    "an integer of 5000 digits",
    "nested more than",
    "appears twice in the archive",
    "holds dtype object; refused",
    "declares .* bytes but its header implies",
    "the architecture description declares",
    "is a directory",
    r"is a FIFO \(named pipe\), expected a regular file",
    "is a FIFO",
    "is a pickle",
}


def symlink_to_fifo(path: Path) -> Path:
    fifo = path.with_name("fifo")
    os.mkfifo(fifo)
    path.symlink_to(fifo)
    return path


@pytest.mark.parametrize(("build", "match"), [pytest.param(b, m, id=n) for n, b, m in HOSTILE])
def test_hostile_model_files_raise_only_model_file_error(tmp_path: Path, build: Any, match: str) -> None:
    path = build(tmp_path / "hostile.npz")
    with pytest.raises(tn.ModelFileError, match=match) as info:
        tn.load(path)
    assert type(info.value) is tn.ModelFileError and "hostile.npz" in str(info.value)
    if match in FILE_LEVEL:  # what is wrong with the file itself also stops reading its metadata
        with pytest.raises(tn.ModelFileError, match=match):
            tn.load_metadata(path)


@pytest.mark.parametrize(("build", "match"), [pytest.param(b, m, id=n) for n, b, m in HOSTILE[:4]])
def test_hostile_architectures_are_refused_in_bounded_memory_without_decompressing(
    tmp_path: Path, build: Any, match: str
) -> None:
    path = build(tmp_path / "hostile.npz")

    def load() -> None:
        with pytest.raises(tn.ModelFileError, match=match):
            tn.load(path)

    peak, decompressed = peak_while(load)
    assert peak < 16 * MiB, f"refusing took {peak / MiB:.1f} MiB"
    assert decompressed < MiB, f"refusing decompressed {decompressed / MiB:.1f} MiB"


def test_a_compressed_bomb_under_another_name_is_never_decompressed(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    tn.save(tn.Sequential(tn.Dense(4, 3, rng=0)), good)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        with target.open("junk.npy", "w", force_zip64=True) as junk:
            for _ in range(256):
                junk.write(bytes(MiB))
    assert path.stat().st_size < 2 * MiB
    peak, decompressed = peak_while(lambda: tn.load(path))
    assert peak < 4 * MiB and decompressed < 64 * 1024, "the junk member is never read"


def test_a_state_member_of_the_wrong_shape_is_refused_before_its_data_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    text = json.dumps(meta(sequential(dense(4, 3)))).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(META_KEY + ".npy", npy(np.frombuffer(text, np.uint8)))
        archive.writestr("state/0.bias.npy", npy(np.zeros(3)))
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (4096, 4096)}
        )
        with archive.open("state/0.weight.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            for _ in range(128):
                member.write(bytes(MiB))

    def load() -> None:
        with pytest.raises(tn.ModelFileError, match=r"0\.weight: expected \(4, 3\), got \(4096, 4096\)"):
            tn.load(path)

    peak, decompressed = peak_while(load)
    assert peak < 8 * MiB and decompressed < 64 * 1024, "the 128 MiB member is never read"


def test_loading_an_honest_model_peaks_at_its_weights(tmp_path: Path) -> None:
    model = tn.Sequential(tn.Dense(1000, 1000, rng=0), tn.ReLU(), tn.Dense(1000, 500, rng=1))
    path = tmp_path / "honest.npz"
    tn.save(model, path)
    weight_bytes = sum(p.data.nbytes for p in model.parameters())
    loaded: list[tn.Module] = []
    peak, _ = peak_while(lambda: loaded.append(tn.load(path)))
    assert peak <= 2 * weight_bytes + 2 * MiB, (
        f"{peak / MiB:.1f} MiB for {weight_bytes / MiB:.1f} MiB of weights"
    )
    assert peak <= 1.2 * weight_bytes + 2 * MiB, "weights are read straight into the model, once"
    x = np.random.default_rng(0).standard_normal((2, 1000))
    np.testing.assert_array_equal(loaded[0](x), model(x))


def test_a_float64_member_for_a_float32_layer_is_converted_without_a_second_copy(tmp_path: Path) -> None:
    weight = np.random.default_rng(0).standard_normal((2000, 1000))  # float64: 16 MB in the file
    description = meta(sequential(layer("Dense", in_features=2000, out_features=1000, bias=False)))
    description["architecture"]["children"][0]["config"]["dtype"] = "float32"
    path = model_file(tmp_path / "wide.npz", description, {"0.weight": weight})
    loaded: list[tn.Module] = []
    peak, _ = peak_while(lambda: loaded.append(tn.load(path)))
    target = weight.size * 4  # the float32 layer: 8 MB
    assert peak <= target + 4 * MiB, f"{peak / MiB:.1f} MiB for an {target / MiB:.0f} MiB layer"
    np.testing.assert_array_equal(loaded[0].parameters()[0].data, weight.astype(np.float32))


def patched_sizes(path: Path, member: str, compressed: int, size: int) -> Path:
    """Rewrite the sizes the central directory records for ``member`` (what a crafted file claims)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    entry = next(  # the central directory entry naming the member
        start
        for start in range(len(data) - 4, -1, -1)
        if data[start : start + 4] == b"PK\x01\x02" and data[start + 46 : start + 46 + len(name)] == name
    )
    data[entry + 20 : entry + 24] = compressed.to_bytes(4, "little")
    data[entry + 24 : entry + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def test_a_member_declaring_more_bytes_than_the_file_has_is_refused_before_allocating(tmp_path: Path) -> None:
    """A 2 GB running variance the file does not contain: BatchNorm used to fill its buffers (ones,
    2 GB written) before the load found the data missing."""
    n = 2**28
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    description = meta(sequential(layer("BatchNorm1d", num_features=n, eps=1e-5, momentum=0.1, affine=False)))
    path = model_file(tmp_path / "claims.npz", description, {})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("state/0.running_var.npy", header.getvalue())
    declared = len(header.getvalue()) + 8 * n
    patched_sizes(path, "state/0.running_var.npy", declared, declared)
    assert path.stat().st_size < 2000

    def load() -> None:
        with pytest.raises(tn.ModelFileError, match="beyond the end of the file"):
            tn.load(path)

    peak, _ = peak_while(load)
    assert peak < 4 * MiB


def test_a_deflated_member_claiming_more_than_deflate_can_give_is_refused(tmp_path: Path) -> None:
    path = model_file(tmp_path / "ratio.npz", meta(sequential(dense(4, 3))), {})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("state/0.weight.npy", npy(np.ones((4, 3))))
        archive.writestr("state/0.bias.npy", npy(np.zeros(3)))
    info = zipfile.ZipFile(path).getinfo("state/0.weight.npy")
    patched_sizes(path, "state/0.weight.npy", info.compress_size, info.compress_size * 2000)
    with pytest.raises(tn.ModelFileError, match="more than deflate can produce"):
        tn.load(path)


def test_a_graph_cannot_make_the_load_run_on_more_than_the_file_holds(tmp_path: Path) -> None:
    """No weights, an input a billion wide: the graph's example batch (16 GB) is refused unmade;
    a chain of concatenations doubling a small input is stopped at the first output too large."""
    wide = {"inputs": [{"name": "x", "shape": [10**9], "dtype": "float64"}],
            "nodes": [{"name": "relu", "inputs": ["x"]}],
            "outputs": ["relu"], "single_input": True, "single_output": True}  # fmt: skip
    graph = {"class": "Graph", "config": wide, "children": [{"class": "ReLU", "config": {}, "children": []}]}
    path = model_file(tmp_path / "wide.npz", meta(graph), {})
    assert path.stat().st_size < 1000

    def load() -> None:
        with pytest.raises(
            tn.ModelFileError, match="an example batch of input 'x' would hold 2000000000 elements"
        ):
            tn.load(path)

    peak, _ = peak_while(load)
    assert peak < 4 * MiB
    nodes, last = [], "x"
    for i in range(24):  # 1,000 wide, doubled 24 times: 16 billion
        nodes.append({"name": f"concatenate_{i}" if i else "concatenate", "inputs": [last, last]})
        last = nodes[-1]["name"]
    doubling = {"inputs": [{"name": "x", "shape": [1000], "dtype": "float64"}], "nodes": nodes,
                "outputs": [last], "single_input": True, "single_output": True}  # fmt: skip
    concatenate = {"class": "Concatenate", "config": {}, "children": []}
    graph = {"class": "Graph", "config": doubling, "children": [concatenate for _ in nodes]}
    path = model_file(tmp_path / "doubling.npz", meta(graph), {})

    def load_doubling() -> None:
        with pytest.raises(tn.ModelFileError, match="the example output of Concatenate"):
            tn.load(path)

    peak, _ = peak_while(load_doubling)
    assert peak < 64 * MiB, f"{peak / MiB:.0f} MiB"


@pytest.mark.parametrize("where", ["class", "config"])
def test_a_huge_string_in_a_small_compressed_description_is_refused_briefly_and_in_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    big = "a" * (15 * MiB)
    spec = {"class": big, "config": {}, "children": []}
    if where == "config":
        spec = {"class": "Sequential", "config": {"junk": big}, "children": [dense(3, 4)]}
    text = json.dumps(meta(spec)).encode()
    members = [(META_KEY + ".npy", npy(np.frombuffer(text, np.uint8)))]
    path = write(tmp_path / "string.npz", members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 64 * 1024

    def load() -> None:
        with pytest.raises(tn.ModelFileError) as caught:
            tn.load(path)
        message = str(caught.value)
        assert big[:250] not in message and len(message) < 5000, "the string is quoted in 200 characters"

    peak, _ = peak_while(load)
    assert peak < 5 * 15 * MiB, f"{peak / MiB:.0f} MiB for a 15 MiB description"
    from tinynet.cli import main

    assert main(["summary", "--model", str(path)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 2100


def test_an_archive_listing_more_members_than_a_model_has_is_refused_before_its_directory_is_read(
    tmp_path: Path,
) -> None:
    """zipfile keeps about half a kilobyte per listed member (~9 times the listing's bytes): a
    directory of 120,001 empty members is refused from the end record, before zipfile reads it."""
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(META_KEY + ".npy", b"")
        for i in range(120_000):
            archive.writestr(f"m{i}", b"")

    def load() -> None:
        with pytest.raises(tn.ModelFileError, match="lists 120,001 members, more than the 100,000"):
            tn.load(path)

    peak, _ = peak_while(load)
    assert peak < MiB, f"{peak / MiB:.1f} MiB"
    honest = tmp_path / "honest.npz"
    tn.save(small(), honest)
    tn.load(honest)  # an honest file's end record is read the same way
    from tinynet.io.model_file import _listed_members

    wide = tmp_path / "zip64.npz"  # past 65,535 members the count is in the zip64 end record
    with zipfile.ZipFile(wide, "w") as archive:
        for i in range(70_000):
            archive.writestr(f"m{i}", b"")
    with open(wide, "rb") as handle:
        assert _listed_members(handle) == 70_000


# -- saving ------------------------------------------------------------------------------------------
def small() -> tn.Module:
    return tn.Sequential(tn.Dense(2, 2, rng=0))


def special_files(tmp_path: Path, server: socket.socket) -> list[tuple[Path, str]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    directory = tmp_path / "folder"
    directory.mkdir()
    sock_path = tmp_path / "sock"
    server.bind(str(sock_path))
    found = [(fifo, r"a FIFO \(named pipe\)"), (directory, "a directory"), (sock_path, "a socket")]
    if os.geteuid() == 0:  # a device node of our own, never the system's
        device = tmp_path / "null"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        found.append((device, "a character device"))
    else:
        found.append((Path("/dev/null"), "a character device"))
    return found


def test_save_never_replaces_what_is_not_a_regular_file(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        for path, kind in special_files(tmp_path, server):
            before = os.lstat(path)
            with pytest.raises(ValueError, match=f"is {kind}; refusing to replace it with a file"):
                tn.save(small(), path)
            after = os.lstat(path)
            assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino), f"{kind} was touched"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_save_writes_through_a_symlink_and_keeps_permission_bits(tmp_path: Path) -> None:
    target = tmp_path / "real.npz"
    tn.save(small(), target)
    target.chmod(0o600)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    model = tn.Sequential(tn.Dense(2, 2, rng=5))
    tn.save(model, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    np.testing.assert_array_equal(tn.load(target)(np.ones((1, 2))), model(np.ones((1, 2))))


def test_a_new_file_gets_the_umask_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        tn.save(small(), tmp_path / "new.npz")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.npz").stat().st_mode) == 0o640


def test_a_long_valid_file_name_saves(tmp_path: Path) -> None:
    path = tmp_path / ("m" * 246 + ".npz")  # 250 characters, the limit is 255
    tn.save(small(), path)
    assert tn.load(path).num_parameters() == 6


def test_a_killed_saves_temporary_is_cleaned_but_a_live_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    prefix = _io._temporary_prefix(str(path))
    stale, live = tmp_path / f"{prefix}dead0001.tmp", tmp_path / f"{prefix}live0001.tmp"
    stale.write_bytes(b"half a model")
    live.write_bytes(b"being written")
    other = tmp_path / f"{_io._temporary_prefix(str(tmp_path / 'other.npz'))}dead0002.tmp"
    other.write_bytes(b"another file's")
    import fcntl

    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a writer that is still alive holds this lock
    try:
        tn.save(small(), path)
    finally:
        os.close(holder)
    assert not stale.exists(), "a dead save's temporary is removed"
    assert live.exists(), "a live save's temporary is never touched"
    assert other.exists(), "only temporaries of this path are considered"


def test_a_save_whose_new_temporary_another_save_cleans_up_makes_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's save cleans up between this save's creating its temporary and locking it
    (the temporary is then unlocked, as a killed save's): the save must notice and go on."""
    import fcntl

    path = tmp_path / "model.npz"
    prefix = _io._temporary_prefix(str(path))
    cleanups = []

    class Racing:  # fcntl as seen by the save, with another save's clean-up just before each lock
        LOCK_EX, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_NB

        def flock(self, descriptor: int, operation: int) -> None:
            if operation == fcntl.LOCK_EX and len(cleanups) < 2:  # the writer's own, blocking lock
                before = sorted(p.name for p in tmp_path.glob("*.tmp"))
                _io._remove_stale_temporaries(str(tmp_path), prefix)
                cleanups.append(before)
            fcntl.flock(descriptor, operation)

    monkeypatch.setattr(_io, "fcntl", Racing())
    model = small()
    tn.save(model, path)
    assert len(cleanups) == 2 and all(len(names) == 1 for names in cleanups), "two temporaries taken"
    loaded = tn.load(path)
    assert all(
        np.array_equal(a.data, b.data) for a, b in zip(model.parameters(), loaded.parameters(), strict=True)
    )
    assert not list(tmp_path.glob("*.tmp"))


def test_concurrent_saves_of_one_path_all_complete_and_leave_a_whole_model(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    script = (
        "import sys, numpy as np, tinynet as tn\n"
        "rng = np.random.default_rng(int(sys.argv[2]))\n"
        "model = tn.Sequential(tn.Dense(3, 4, rng=rng))\n"
        "for _ in range(150):\n"
        "    tn.save(model, sys.argv[1])\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(seed)], stderr=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    ]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    weights = tn.load(path).parameters()[0].data
    candidates = [tn.Dense(3, 4, rng=np.random.default_rng(seed)).parameters()[0].data for seed in (1, 2)]
    assert any(np.array_equal(weights, c) for c in candidates), "one of the two complete models"
    assert not list(tmp_path.glob("*.tmp"))


def test_a_description_of_escaped_quotes_is_refused_in_linear_time(tmp_path: Path) -> None:
    """A string that never closes, made of escaped quotes: a scan that restarts at every quote is
    quadratic (hours for these 8 MB); the depth check is one pass."""
    text = b'{"format": "' + b'\\"' * 4_000_000
    path = model_file(tmp_path / "quotes.npz", None, SMALL_STATE, raw_meta=text)
    start = time.perf_counter()
    with pytest.raises(tn.ModelFileError, match="the architecture description is damaged"):
        tn.load(path)
    assert time.perf_counter() - start < 30, "a hang guard only: this takes about a second"


def test_a_graph_of_twenty_thousand_nodes_is_named_saved_and_loaded_in_linear_time(tmp_path: Path) -> None:
    x = tn.Input(shape=(2,), name="relu_1")  # an input holding a name the layers would take
    h = x
    for _ in range(20_000):
        h = tn.ReLU()(h)
    start = time.perf_counter()
    graph = tn.Graph(x, h)
    tn.save(graph, tmp_path / "chain.npz")
    loaded = tn.load(tmp_path / "chain.npz")
    assert time.perf_counter() - start < 60, "a hang guard only: this takes about two seconds"
    names = [wire.name for wire in loaded.wires]
    assert names[:3] == ["relu", "relu_2", "relu_3"] and names[-1] == "relu_20000"
    assert len(set(names)) == 20_000


def test_csv_and_model_readers_refuse_special_files_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"is a FIFO \(named pipe\), expected a regular file"):
        tn.load_csv(fifo)
    assert time.perf_counter() - start < 10.0, "no hang waiting for a writer"


def layer(name: str, **config: Any) -> dict[str, Any]:
    return {"class": name, "config": {**config, "dtype": "float64"}, "children": []}


HUGE_SEQUENCE_LAYERS = [
    ("GRU", layer("GRU", input_size=10**6, hidden_size=10**6), "more than the file's weights hold"),
    (
        "LSTM",
        layer("LSTM", input_size=4, hidden_size=10**5, num_layers=50),
        "more than the file's weights hold",
    ),
    (
        "attention",
        layer("MultiheadAttention", embed_dim=10**6, num_heads=1),
        "more than the file's weights hold",
    ),
    (
        "positions",
        layer("PositionalEmbedding", max_len=10**9, embedding_dim=64),
        "more than the file's weights",
    ),
    (
        "an encoder block without its parts",
        layer("TransformerEncoderLayer", d_model=10**6, nhead=1, dim_feedforward=10**6),
        "needs its 9 parts",
    ),
]


@pytest.mark.parametrize(
    ("description", "match"), [pytest.param(d, m, id=n) for n, d, m in HUGE_SEQUENCE_LAYERS]
)
def test_sequence_layers_declaring_huge_sizes_are_refused_in_bounded_memory(
    tmp_path: Path, description: Any, match: str
) -> None:
    path = model_file(tmp_path / "hostile.npz", meta(description), {})

    def load() -> None:
        with pytest.raises(tn.ModelFileError, match=match):
            tn.load(path)

    peak, _ = peak_while(load)
    assert peak < 16 * MiB, f"refusing took {peak / MiB:.1f} MiB"


JSON_SHAPES = {  # the shapes json.loads inflates most, per byte of text
    "empty lists": lambda n: "[" + ",".join(["[]"] * (n // 3)) + "]",
    "empty objects": lambda n: "[" + ",".join(["{}"] * (n // 3)) + "]",
    "nested lists": lambda n: "[" + ",".join(["[[1]]"] * (n // 6)) + "]",
    "distinct keys": lambda n: "{" + ",".join(f'"{i:x}":{{}}' for i in range(n // 10)) + "}",
    "numbers": lambda n: "[" + ",".join(["1.5"] * (n // 4)) + "]",
    "wide characters": lambda n: "[" + ",".join(['"\\ud83d\\ude00"'] * (n // 15)) + "]",
}


@pytest.mark.parametrize("shape", sorted(JSON_SHAPES))
def test_parsing_a_description_is_estimated_from_above_before_it_is_parsed(shape: str) -> None:
    """The one-pass estimate must not be below what json.loads really allocates."""
    from tinynet.io.model_file import _json_shape

    raw = JSON_SHAPES[shape](MiB).encode()
    _, estimate = _json_shape(raw)

    def parse() -> None:
        json.loads(raw.decode("utf-8"))

    peak, _ = peak_while(parse)
    assert peak <= estimate <= 60 * len(raw), f"{peak / len(raw):.1f} vs {estimate / len(raw):.1f} per byte"


@pytest.mark.parametrize("shape", ["empty lists", "nested lists", "distinct keys"])
def test_a_small_file_whose_description_would_parse_into_gigabytes_is_refused_unparsed(
    tmp_path: Path, shape: str
) -> None:
    """14 MiB of "[[1]]," compress to 30 KB and parse into 0.45 GB: refused before parsing, stored
    or compressed."""
    items = JSON_SHAPES[shape](14 * MiB)
    text = ('{"format": "tinynet-model", "format_version": 1, "architecture": ' + items + "}").encode()
    path = model_file(tmp_path / "inflating.npz", None, SMALL_STATE, raw_meta=text)
    packed = write(
        tmp_path / "packed.npz",
        [(META_KEY + ".npy", npy(np.frombuffer(text, np.uint8)))],
        zipfile.ZIP_DEFLATED,
    )
    assert packed.stat().st_size < len(text) // 4
    for candidate in (path, packed):

        def load(candidate: Path = candidate) -> None:
            with pytest.raises(
                tn.ModelFileError, match=r"would take about [\d,]+ MiB to parse, more than 128 MiB"
            ):
                tn.load(candidate)

        peak, _ = peak_while(load)
        assert peak < 3 * len(text), f"{peak / MiB:.0f} MiB for {len(text) / MiB:.0f} MiB of text"


def _reference_depth(text: bytes) -> int:
    """Bracket depth outside strings, one byte at a time (slow and obviously right)."""
    deepest = depth = 0
    inside = escaped = False
    for byte in text:
        char = chr(byte)
        if inside:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
        elif char == '"':
            inside = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def test_the_one_pass_depth_scanner_agrees_with_a_byte_by_byte_reference() -> None:
    """Random JSON-like texts (strings holding quotes, backslashes and brackets escaped or not),
    scanned in chunks as small as 7 bytes so that strings and runs of backslashes cross chunk
    boundaries."""
    from tinynet.io.model_file import _json_shape

    rng = np.random.default_rng(7)
    outside = ["[", "]", "{", "}", ",", ":", "1"]
    inside = ["a", "[", "}", "\\\\", '\\"', "\\u0041"]
    for trial in range(2000):
        parts = []
        for _ in range(int(rng.integers(0, 40))):
            if rng.random() < 0.2:
                parts.append('"' + "".join(rng.choice(inside, size=int(rng.integers(0, 6)))) + '"')
            else:
                parts.append(str(rng.choice(outside)))
        text = "".join(parts).encode()
        for chunk in (7, 64, 2**18):
            assert _json_shape(text, chunk)[0] == _reference_depth(text), (trial, text, chunk)
