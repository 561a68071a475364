"""Flat parameter storage: the contract of .data and .grad holds, and fit streams a memory map."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.core.parameter import find_groups

rng = np.random.default_rng(0)


def net(dtype: Any = np.float64) -> tn.Sequential:
    return tn.Sequential(tn.Dense(3, 5, dtype=dtype, rng=0), tn.Tanh(), tn.Dense(5, 2, dtype=dtype, rng=1))


def step_with(model: tn.Module, optimizer: tn.Optimizer, x: Any) -> None:
    out = model(x)
    model.zero_grad()
    model.backward(np.ones_like(out))
    optimizer.step()


def test_an_optimizer_keeps_every_parameter_in_one_buffer_weights_first() -> None:
    model = net()
    tn.SGD(model.parameters(), lr=0.1)
    (group,) = find_groups(model.parameters()) or []
    assert all(
        np.shares_memory(p.data, group.data) and np.shares_memory(p.grad, group.grad)
        for p in model.parameters()
    )
    assert group.data.size == model.num_parameters()
    weights = sum(p.size for p in model.parameters() if p.regularize)
    assert group.n_regularized == weights
    first_weight = model[0].weight.data  # type: ignore[attr-defined]
    assert np.shares_memory(first_weight, group.data[:weights])


@pytest.mark.parametrize("make", [lambda p: tn.SGD(p, lr=0.1, momentum=0.9), lambda p: tn.Adam(p, lr=0.05)])
def test_flat_updates_equal_parameter_by_parameter_updates(make: Any) -> None:
    """The same steps as the per-parameter rule: one flat model, and a twin whose parameters are split."""
    model, twin = net(), net()
    flat_opt = make(model.parameters())
    split_opts = [make([p]) for p in twin.parameters()]  # one group per parameter: no joint buffer
    x = rng.standard_normal((4, 3))
    for _ in range(6):
        step_with(model, flat_opt, x)
        out = twin(x)
        twin.zero_grad()
        twin.backward(np.ones_like(out))
        for opt in split_opts:
            opt.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-14, atol=1e-15)


def test_in_place_writes_are_seen_and_assignments_are_taken_over() -> None:
    model = net()
    optimizer = tn.SGD(model.parameters(), lr=0.5)
    weight = model[0].weight  # type: ignore[attr-defined]
    weight.data[...] = 1.0  # in place: the buffer itself
    weight.data += 1.0
    model.zero_grad()
    weight.grad[...] = 2.0
    optimizer.step()
    np.testing.assert_array_equal(weight.data, np.full((3, 5), 1.0))  # 2 - 0.5 * 2
    weight.data = np.full((3, 5), 7.0)  # a new array: the optimizer rebuilds its storage next step
    model.zero_grad()
    weight.grad[...] = 1.0
    optimizer.step()
    np.testing.assert_array_equal(weight.data, np.full((3, 5), 6.5))
    assert find_groups(model.parameters()) is not None, "back in flat storage"


def test_shared_parameters_are_stored_once() -> None:
    layer = tn.Dense(3, 3, rng=0)
    model = tn.Sequential(layer, tn.Tanh(), layer.clone(share_parameters=True))
    optimizer = tn.Adam(model.parameters())
    assert len(optimizer.params) == 2
    (group,) = find_groups(model.parameters()) or []
    assert group.data.size == 12
    step_with(model, optimizer, rng.standard_normal((2, 3)))
    assert model[0].weight is model[2].weight  # type: ignore[attr-defined]


def test_load_state_dict_keeps_the_views_and_to_rebuilds_with_the_state() -> None:
    model = net()
    optimizer = tn.Adam(model.parameters(), lr=0.01)
    x = rng.standard_normal((4, 3))
    step_with(model, optimizer, x)
    model.load_state_dict(model.state_dict())
    assert find_groups(model.parameters()) is not None, "in place: still the optimizer's buffer"
    moments = [s["exp_avg"].copy() for s in optimizer.param_states()]
    model.to(np.float32)
    assert find_groups(model.parameters()) is None, "a new dtype means new arrays"
    step_with(model, optimizer, x.astype(np.float32))
    (group,) = find_groups(model.parameters()) or []
    assert group.data.dtype == np.float32
    for param, state, before in zip(model.parameters(), optimizer.param_states(), moments, strict=True):
        assert state["exp_avg"].dtype == np.float32
        # the first moment came along: m = 0.9 m_before + 0.1 g, with this step's gradient g
        np.testing.assert_allclose(state["exp_avg"], 0.9 * before + 0.1 * param.grad, rtol=1e-5, atol=1e-7)


def test_two_optimizers_over_one_model_both_work() -> None:
    model = net()
    first = tn.SGD(model.parameters(), lr=0.1)
    second = tn.SGD(model[2].parameters(), lr=0.1)  # type: ignore[attr-defined]
    x = rng.standard_normal((4, 3))
    before = [p.data.copy() for p in model.parameters()]
    step_with(model, first, x)
    step_with(model, second, x)
    step_with(model, first, x)
    moved = [not np.array_equal(b, p.data) for b, p in zip(before, model.parameters(), strict=True)]
    assert all(moved)


def test_a_clone_stands_alone() -> None:
    model = net()
    tn.SGD(model.parameters(), lr=0.1)
    clone = model.clone()
    assert find_groups(clone.parameters()) is None
    clone[0].weight.data[...] = 0.0  # type: ignore[attr-defined]
    assert model[0].weight.data.any()  # type: ignore[attr-defined]


def test_clippers_and_regularizers_see_the_flat_buffer_as_the_parameters() -> None:
    model, twin = net(), net()
    tn.SGD(model.parameters())  # flat
    x = rng.standard_normal((4, 3))
    for m in (model, twin):
        out = m(x)
        m.zero_grad()
        m.backward(np.ones_like(out) * 50)
        tn.L1L2(0.1, 0.2).apply(m.parameters())
    assert tn.clip.global_norm(model.parameters()) == pytest.approx(
        tn.clip.global_norm(twin.parameters()), rel=1e-14
    )
    assert tn.L2(0.3).penalty(model.parameters()) == pytest.approx(
        tn.L2(0.3).penalty(twin.parameters()), rel=1e-14
    )
    tn.ClipGlobalNorm(1.0)(model.parameters())
    tn.ClipGlobalNorm(1.0)(twin.parameters())
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13)


def peak_of_fit(path: Path, rows: int) -> int:
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 20))
    data[:] = np.random.default_rng(0).standard_normal((rows, 20)).astype(np.float32)
    data.flush()
    del data
    x = np.load(path, mmap_mode="r")
    y = (np.arange(rows) % 2).astype(np.int64)
    model = tn.Sequential(
        tn.Dense(20, 16, dtype=np.float32, rng=0), tn.ReLU(), tn.Dense(16, 2, dtype=np.float32, rng=1)
    )
    optimizer = tn.SGD(model.parameters(), lr=0.01)
    tracemalloc.start()
    tn.fit(
        model,
        x,
        y,
        loss=tn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=1,
        batch_size=256,
        rng=0,
        verbose=0,
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_fit_memory_does_not_grow_with_the_rows_of_a_memory_map(tmp_path: Path) -> None:
    small = peak_of_fit(tmp_path / "small.npy", 50_000)
    large = peak_of_fit(tmp_path / "large.npy", 400_000)
    data_bytes = 400_000 * 20 * 4
    # what may grow: the shuffled order (8 bytes a row) and the label array fit gets (8 bytes a row)
    assert large - small <= 350_000 * 16 + 2**20, f"{(large - small) / 2**20:.1f} MiB more for 8x the rows"
    assert large < data_bytes / 3, "never a copy of the data"
