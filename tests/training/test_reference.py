"""Random stacks of layers against an independent plain-NumPy forward/backward (1e-10 relative)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinynet as tn

Array = np.ndarray[Any, Any]


def reference(
    kinds: list[str], weights: list[tuple[Array, Array]], x: Array, g: Array
) -> tuple[Array, Array, list[tuple[Array, Array]]]:
    """Forward and backward written out directly, caching inputs (not outputs) on purpose."""
    inputs, w_iter = [], iter(weights)
    h = x
    for kind in kinds:
        inputs.append(h)
        if kind == "dense":
            w, b = next(w_iter)
            h = h @ w + b
        elif kind == "relu":
            h = np.where(h > 0, h, 0.0)
        elif kind == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
        elif kind == "tanh":
            h = (np.exp(h) - np.exp(-h)) / (np.exp(h) + np.exp(-h))
        elif kind == "softmax":
            e = np.exp(h - h.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
    out = h
    grads: list[tuple[Array, Array]] = []
    w_list = list(weights)
    for kind, inp in zip(reversed(kinds), reversed(inputs), strict=True):
        if kind == "dense":
            w, _ = w_list.pop()
            grads.insert(0, (inp.T @ g, g.sum(axis=0)))
            g = g @ w.T
        elif kind == "relu":
            g = g * (inp > 0)
        elif kind == "sigmoid":
            s = 1.0 / (1.0 + np.exp(-inp))
            g = g * s * (1 - s)
        elif kind == "tanh":
            g = g / np.cosh(inp) ** 2
        elif kind == "softmax":
            e = np.exp(inp - inp.max(axis=1, keepdims=True))
            s = e / e.sum(axis=1, keepdims=True)
            jac = np.einsum("bi,ij->bij", s, np.eye(s.shape[1])) - np.einsum("bi,bj->bij", s, s)
            g = np.einsum("bij,bj->bi", jac, g)
    return out, g, grads


ACTIVATIONS = {"relu": tn.ReLU, "sigmoid": tn.Sigmoid, "tanh": tn.Tanh, "softmax": tn.Softmax}


@pytest.mark.parametrize("seed", range(20))
def test_random_stack_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 5))
    widths = [int(w) for w in rng.integers(1, 7, depth + 1)]
    kinds: list[str] = []
    modules: list[tn.Module] = []
    weights: list[tuple[Array, Array]] = []
    for i in range(depth):
        layer = tn.Dense(widths[i], widths[i + 1], rng=rng)
        layer.bias.data[:] = rng.standard_normal(widths[i + 1])  # type: ignore[union-attr]
        modules.append(layer)
        weights.append((layer.weight.data.copy(), layer.bias.data.copy()))  # type: ignore[union-attr]
        kinds.append("dense")
        act = str(rng.choice(list(ACTIVATIONS)))
        modules.append(ACTIVATIONS[act]())
        kinds.append(act)
    model = tn.Sequential(*modules)
    batch = int(rng.integers(1, 6))
    x = rng.standard_normal((batch, widths[0]))
    g = rng.standard_normal((batch, widths[-1]))

    out = model(x)
    dx = model.backward(g)
    ref_out, ref_dx, ref_grads = reference(kinds, weights, x, g)

    def close(a: Array, b: Array) -> None:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * max(1.0, float(np.abs(b).max())))

    close(out, ref_out)
    close(dx, ref_dx)
    dense = [m for m in modules if isinstance(m, tn.Dense)]
    for layer, (gw, gb) in zip(dense, ref_grads, strict=True):
        close(layer.weight.grad, gw)
        close(layer.bias.grad, gb)  # type: ignore[union-attr]
