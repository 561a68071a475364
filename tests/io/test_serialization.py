"""Model files: exact round trips, safety against pickles, atomic writes, damaged and foreign files."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.io.model_file import META_KEY, ModelFileError
from tinynet.tools.cases import MODULE_CASES, sample


def model(dtype: Any = np.float64) -> tn.Sequential:
    return tn.Sequential(
        tn.Dense(4, 8, dtype=dtype, rng=0),
        tn.LeakyReLU(0.2),
        tn.Dense(8, 3, dtype=dtype, bias=False, rng=1),
        tn.Softmax(),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("factory", "specs"), [pytest.param(f, s, id=n) for n, f, s in MODULE_CASES])
def test_every_module_round_trips_bit_identically(
    tmp_path: Path, dtype: Any, factory: Callable[[], tn.Module], specs: list[Any]
) -> None:
    original = factory().to(dtype) if factory().parameters() else factory()
    path = tmp_path / "m.npz"
    tn.save(original, path)
    loaded = tn.load(path)
    assert type(loaded) is type(original) and repr(loaded) == repr(original)
    x = sample(specs[0], np.random.default_rng(0), dtype)
    y_original, y_loaded = original.eval()(x), loaded.eval()(x)  # predictions: eval mode
    for a, b in zip(*(v if isinstance(v, list) else [v] for v in (y_original, y_loaded)), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for (n1, a), (n2, b) in zip(original.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert n1 == n2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    tn.save(model(), path, metadata={"classes": ["a", "b", "c"], "scale": [1.5]})
    meta = tn.load_metadata(path)
    assert meta["classes"] == ["a", "b", "c"] and meta["tinynet_version"] == tn.__version__
    with pytest.raises(TypeError, match="JSON"):
        tn.save(model(), path, metadata={"bad": object()})


class Evil:
    """Unpickling this would create a marker file: the proof that nothing was unpickled is its absence."""

    marker = ""

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (Evil.marker, "w"))


def test_pickle_payload_in_npz_is_refused_and_never_runs(tmp_path: Path) -> None:
    Evil.marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.npz"
    good = tmp_path / "good.npz"
    tn.save(model(), good)
    with np.load(good) as archive:
        meta = archive[META_KEY]
    np.savez(path, **{META_KEY: meta, "state/0.weight": np.array([Evil()], dtype=object)})
    with pytest.raises(ModelFileError, match="holds dtype object; refused"):
        tn.load(path)
    assert not os.path.exists(Evil.marker)


def test_raw_pickle_file_is_refused_and_never_runs(tmp_path: Path) -> None:
    Evil.marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match=r"evil\.npz"):
        tn.load(path)
    assert not os.path.exists(Evil.marker)


def test_save_failing_in_replace_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.npz"
    tn.save(model(), path)
    before = path.read_bytes()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        tn.save(tn.Sequential(tn.Dense(4, 2)), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]
    tn.load(path)


def test_save_failing_mid_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.npz"
    tn.save(model(), path)
    before = path.read_bytes()

    def half_write(file: Any, **arrays: Any) -> None:
        file.write(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        tn.save(model(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def test_missing_empty_truncated_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such model file"):
        tn.load(tmp_path / "absent.npz")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        tn.load(empty)
    good = tmp_path / "good.npz"
    tn.save(model(), good)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        truncated = tmp_path / f"cut{cut}.npz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=f"cut{cut}.npz"):
            tn.load(truncated)
    text = tmp_path / "notes.npz"
    text.write_text("hello, I am not a model")
    with pytest.raises(ModelFileError, match=r"notes\.npz"):
        tn.load(text)
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "a zip, but not ours")
    with pytest.raises(ModelFileError, match="not a tinynet model file"):
        tn.load(foreign)
    plain = tmp_path / "plain.npz"
    np.savez(plain, weights=np.ones(3))
    with pytest.raises(ModelFileError, match="not a tinynet model file"):
        tn.load(plain)


def test_every_single_byte_flip_is_caught_or_harmless(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    tn.save(model(), good)
    data = bytearray(good.read_bytes())
    reference = tn.load(good)(np.ones((1, 4)))
    flipped = tmp_path / "flipped.npz"
    caught = 0
    for position in range(0, len(data), 3):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        flipped.write_bytes(bytes(damaged))
        try:
            loaded = tn.load(flipped)
        except ModelFileError:
            caught += 1
            continue
        # a flip in a field nobody reads (a timestamp, say) may load: then it must load the same model
        np.testing.assert_array_equal(loaded(np.ones((1, 4))), reference)
    assert caught > len(data) // 6


def test_architecture_mismatch_lists_the_keys(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    tn.save(model(), good)
    with np.load(good) as archive:
        meta = archive[META_KEY]
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        **{
            META_KEY: meta,
            "state/0.weight": np.zeros((4, 9)),
            "state/0.bias": np.zeros(8),
            "state/9.weight": np.zeros(1),
        },
    )
    with pytest.raises(ModelFileError) as info:
        tn.load(bad)
    message = str(info.value)
    assert (
        "2.weight" in message and "9.weight" in message and "0.weight: expected (4, 8), got (4, 9)" in message
    )


def test_unknown_class_and_damaged_description(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    tn.save(model(), good)
    with np.load(good) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays[META_KEY].tobytes())
    meta["architecture"]["children"][1]["class"] = "os.system"
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"'os\.system', which is not registered"):
        tn.load(bad)
    meta["format_version"] = 99
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match="version 99"):
        tn.load(bad)


def test_custom_modules_opt_in_through_the_registry(tmp_path: Path) -> None:
    class Scale(tn.Module):
        def __init__(self, factor: float = 2.0) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x: Any) -> Any:
            return np.asarray(x) * self.factor

        def backward(self, grad_out: Any) -> Any:
            return grad_out * self.factor

        def get_config(self) -> dict[str, Any]:
            return {"factor": self.factor}

    net = tn.Sequential(tn.Dense(2, 2, rng=0), Scale(3.0))
    with pytest.raises(TypeError, match="register_module"):
        tn.save(net, tmp_path / "m.npz")
    tn.register_module(Scale)
    tn.save(net, tmp_path / "m.npz")
    loaded = tn.load(tmp_path / "m.npz")
    assert loaded[1].factor == 3.0  # type: ignore[attr-defined]
    np.testing.assert_array_equal(loaded(np.ones((1, 2))), net(np.ones((1, 2))))


def test_saving_into_a_folder_that_does_not_exist_names_that_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=r"no such folder to write m\.npz into") as info:
        tn.save(model(), missing / "m.npz")
    assert info.value.filename == str(missing) and ".tmp" not in str(info.value)
    assert not (tmp_path / "no").exists(), "nothing is created"
