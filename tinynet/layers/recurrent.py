"""Recurrent layers: ``RNN``, ``GRU`` and ``LSTM`` over sequences, as ``torch.nn`` (dropout off).

A layer reads ``x`` of shape (N, L, E) (``batch_first=True``, tinynet's layout for every sequence;
``batch_first=False`` takes (L, N, E) as PyTorch's default) and returns a list
``[output, h_n]`` (LSTM: ``[output, h_n, c_n]``): ``output`` (N, L, D * H) holds the last layer's
hidden state at every step (both directions side by side when ``bidirectional``, D = 2), ``h_n``
the final state of every layer and direction. The states are (N, num_layers * D, H) with
``batch_first`` (so a ``Graph`` can carry them: every node is batch-major; PyTorch keeps
(num_layers * D, N, H) for them) and (num_layers * D, N, H) without. ``tn.Select(0)`` picks the
output in a ``Sequential``; in a ``Graph``, ``output, h_n = tn.GRU(...)(x)``. Initial states come
as ``[x, h_0]`` (LSTM ``[x, h_0, c_0]``); backward then returns ``[dx, dh_0, ...]``.

The cells, with gates in PyTorch's order and weights ``weight_ih_l{k}`` (G * H, E_k),
``weight_hh_l{k}`` (G * H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (suffix ``_reverse`` for the
backward direction; PyTorch's names, so ``state_dict`` keys match):

    RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                     (or relu)
    GRU:  r = sig(W_ir x + b_ir + W_hr h + b_hr),  z = sig(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h
    LSTM: i, f, o = sig(.), g = tanh(.) of W_ih x + b_ih + W_hh h + b_hh
          c' = f * c + i * g,  h' = o * tanh(c')

Speed: the input projection of all steps is one GEMM before the loop (W_ih x + b_ih for every t),
each step is one GEMM for all gates (h W_hh^T) and a few element-wise passes into preallocated
arrays. Backpropagation through time runs the steps backwards keeping only the gate activations;
the weight gradients are again one GEMM each over all steps (dW_hh = sum_t dA_t^T h_{t-1}).
Dropout (``dropout > 0``) acts on each layer's output but the last's, in training, as PyTorch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import Self, override

from tinynet.core.checks import (
    Array,
    RngLike,
    as_array,
    as_float_dtype,
    as_generator,
    check_float,
    check_int,
    fmt_shape,
)
from tinynet.core.inspect import example_sequence
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module
from tinynet.layers.core import Dropout


def halved(w_hh: Array, b_hh: Array | None, xp: Array, scale: Array) -> tuple[Array, Array | None]:
    """Halve the pre-activations of the sigmoid gates (``scale`` is 0.5 on their columns, 1 on the
    others): sig(a) = tanh(a / 2) / 2 + 1 / 2, so one tanh pass (and a multiply-add) activates them.
    The projected inputs ``xp`` (L, N, G*H) are scaled in place; returns W_hh^T scaled, contiguous
    (the fast layout for h @ W^T), and b_hh scaled. Halving is exact in floating point."""
    xp *= scale
    w_t = np.ascontiguousarray(w_hh.T) * scale
    return w_t, None if b_hh is None else b_hh * scale


class _Direction:
    """What one layer in one direction kept from forward for backward (all time-major)."""

    __slots__ = ("init", "inputs", "outputs", "reverse", "saved")

    def __init__(
        self, inputs: Array, init: list[Array], outputs: Array, saved: tuple[Array, ...], reverse: bool
    ) -> None:
        self.inputs, self.init, self.outputs, self.saved, self.reverse = inputs, init, outputs, saved, reverse

    def previous(self, values: Array, first: Array) -> Array:
        """values[t - 1] at each step t in processing order, ``first`` before the first step."""
        shifted = np.empty_like(values)
        if self.reverse:
            shifted[:-1], shifted[-1] = values[1:], first
        else:
            shifted[1:], shifted[0] = values[:-1], first
        return shifted


class _Recurrent(Module):
    """The shared stack of layers and directions; a subclass gives the cell (see the module docstring)."""

    not_settings: ClassVar[tuple[str, ...]] = ("init", "rng")  # the saved weights replace the draw
    caches: ClassVar[tuple[str, ...]] = ("_cache", "_listed")
    gates: ClassVar[int] = 1
    states: ClassVar[int] = 1  # h; the LSTM also carries c

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        init: str = "torch",
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        if init not in ("torch", "zeros"):
            raise ValueError(f"init must be 'torch' (PyTorch's uniform draw) or 'zeros', got {init!r}")
        self.input_size = check_int(input_size, "input_size", minimum=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", minimum=1)
        self.num_layers = check_int(num_layers, "num_layers", minimum=1)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_float(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        self.bidirectional = bool(bidirectional)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                f"dropout={self.dropout} acts between stacked layers only, so with num_layers=1 it does "
                "nothing (as in PyTorch)",
                UserWarning,
                stacklevel=2,
            )
        resolved = as_float_dtype(dtype)
        generator = as_generator(rng)
        bound = 1.0 / math.sqrt(self.hidden_size)  # PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H))
        rows = self.gates * self.hidden_size
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for suffix in self._suffixes():
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (rows, width),
                    "weight_hh": (rows, self.hidden_size),
                }
                if self.bias:
                    shapes.update(bias_ih=(rows,), bias_hh=(rows,))
                for kind, shape in shapes.items():
                    values = (
                        generator.uniform(-bound, bound, shape).astype(resolved)
                        if init == "torch"
                        else allocate(shape, resolved)
                    )
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(values, kind.startswith("weight"), name, copy=False))
        # one Dropout per joint between layers (when dropout > 0): gradcheck freezes them, and their
        # draws are reproducible from rng
        joints = self.num_layers - 1 if self.dropout > 0 else 0
        self.dropouts = [Dropout(self.dropout, rng=generator) for _ in range(joints)]
        self._cache: list[list[_Direction]] | None = None
        self._listed: bool | None = None

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """The layer with zero weights (no random draw; a model file's weights are loaded next). Its
        Dropout children carry nothing the settings do not."""
        return cls(**config, init="zeros")

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def cell_parameters(
        self, layer: int, direction: int
    ) -> tuple[Parameter, Parameter, Parameter | None, Parameter | None]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer in one direction (0 or 1)."""
        suffix = f"_l{layer}{self._suffixes()[direction]}"
        b_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
        b_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
        return getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix), b_ih, b_hh

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.cell_parameters(0, 0)[0].data.dtype

    def input_width(self) -> int | None:
        return None  # a sequence layer: (N, L, E), not (N, E)

    def example_input(self, in_features: int | tuple[int, ...] | None = None) -> Array:
        """One sequence of 4 steps (or of ``in_features`` shape (L, E)) for ``summary()``."""
        return example_sequence(in_features, self.input_size, self.dtype)

    # -- the cell, one direction of one layer -------------------------------------------------------
    def _run(
        self, xp: Array, init: list[Array], w_hh: Array, b_hh: Array | None, reverse: bool
    ) -> tuple[Array, tuple[Array, ...], list[Array]]:
        """Run the steps on the projected inputs ``xp`` (L, N, G*H): (outputs, saved, final states)."""
        raise NotImplementedError

    def _run_backward(
        self, run: _Direction, grad: Array, finals: list[Array], w_hh: Array
    ) -> tuple[Array, Array, list[Array]]:
        """Backpropagate through time: (dL/d(xp), dL/d(h W_hh^T + b_hh), dL/d(initial states))."""
        raise NotImplementedError

    # -- the stack ----------------------------------------------------------------------------------
    def _inputs(self, x: Any) -> tuple[Array, list[Array], bool]:
        """x time-major (L, N, E), the initial states (layers * D, N, H), and whether x came as a list."""
        listed = isinstance(x, (list, tuple))
        parts = list(x) if listed else [x]
        names = ["x", "h_0", "c_0"][: 1 + self.states]
        if listed and len(parts) != 1 + self.states:
            raise ValueError(
                f"{self!r} takes x or the list [{', '.join(names)}], got a list of {len(parts)} arrays"
            )
        dtype = self.dtype
        seq = as_array(parts[0], "x")
        layout = "(batch, steps, features)" if self.batch_first else "(steps, batch, features)"
        if seq.ndim != 3 or seq.shape[2] != self.input_size or 0 in seq.shape[:2]:
            raise ValueError(
                f"{self!r} expected x {layout} with {self.input_size} features and at least one step, "
                f"got shape {fmt_shape(seq.shape)}"
            )
        seq = np.ascontiguousarray(seq.transpose(1, 0, 2) if self.batch_first else seq, dtype=dtype)
        n = seq.shape[1]
        count = self.num_layers * self.num_directions
        states = []
        for name, part in zip(names[1:], parts[1:], strict=False):  # none when x came alone
            state = as_array(part, name)
            expected = (n, count, self.hidden_size) if self.batch_first else (count, n, self.hidden_size)
            if state.shape != expected:
                raise ValueError(
                    f"{self!r} expected {name} of shape {fmt_shape(expected)}, got {fmt_shape(state.shape)}"
                )
            time_major = state.transpose(1, 0, 2) if self.batch_first else state
            states.append(np.ascontiguousarray(time_major, dtype=dtype))
        if not states:
            states = [np.zeros((count, n, self.hidden_size), dtype) for _ in range(self.states)]
        return seq, states, listed

    def _batch_major(self, value: Array) -> Array:
        return np.ascontiguousarray(value.transpose(1, 0, 2)) if self.batch_first else value

    @override
    def forward(self, x: Any) -> list[Array]:
        seq, states, listed = self._inputs(x)
        steps, n = seq.shape[:2]
        d = self.num_directions
        finals = [np.empty_like(s) for s in states]
        cache: list[list[_Direction]] = []
        for layer in range(self.num_layers):
            if layer and self.dropouts:  # the Dropout sees (N, L, D * H) as everywhere else
                dropped = self.dropouts[layer - 1].forward(seq.transpose(1, 0, 2))
                seq = np.ascontiguousarray(dropped.transpose(1, 0, 2))
            runs, outputs = [], []
            for direction in range(d):
                w_ih, w_hh, b_ih, b_hh = self.cell_parameters(layer, direction)
                xp = (seq.reshape(steps * n, -1) @ w_ih.data.T).reshape(steps, n, -1)
                if b_ih is not None:
                    xp += b_ih.data
                k = layer * d + direction
                init = [s[k] for s in states]
                bias_hh = None if b_hh is None else b_hh.data
                out, saved, last = self._run(xp, init, w_hh.data, bias_hh, direction == 1)
                for final, value in zip(finals, last, strict=True):
                    final[k] = value
                runs.append(_Direction(seq, init, out, saved, direction == 1))
                outputs.append(out)
            cache.append(runs)
            seq = outputs[0] if d == 1 else np.concatenate(outputs, axis=2)
        self._cache, self._listed = cache, listed
        return [self._batch_major(seq), *(self._batch_major(f) for f in finals)]

    def _grads(self, grad_out: Any, steps: int, n: int) -> tuple[Array, list[Array | None]]:
        """The output gradient time-major and each final state's (None: nothing flows into it)."""
        count = 1 + self.states
        if not isinstance(grad_out, (list, tuple)) or len(grad_out) != count:
            raise ValueError(
                f"{self!r}.backward takes a list of {count} gradients (output and final states; None "
                f"for one nothing depends on), got {type(grad_out).__name__}"
            )
        h, states = self.hidden_size, self.num_layers * self.num_directions
        shapes = [(steps, n, h * self.num_directions), *[(states, n, h)] * self.states]
        grads: list[Array | None] = []
        for i, (g, shape) in enumerate(zip(grad_out, shapes, strict=True)):
            if g is None:
                grads.append(None)
                continue
            expected = (shape[1], shape[0], shape[2]) if self.batch_first else shape
            array = np.asarray(g)
            if array.shape != expected:
                raise ValueError(
                    f"{self!r}.backward: grad_out for output {i} must have the shape of the forward output "
                    f"{fmt_shape(expected)}, got {fmt_shape(array.shape)}"
                )
            grads.append(array.transpose(1, 0, 2) if self.batch_first else array)
        first = grads[0] if grads[0] is not None else np.zeros(shapes[0], self.dtype)
        return first, grads[1:]

    @override
    def backward(self, grad_out: Any) -> Any:
        cache = self._cached(self._cache)
        steps, n = cache[0][0].inputs.shape[:2]
        grad_seq, grad_finals = self._grads(grad_out, steps, n)
        h, d = self.hidden_size, self.num_directions
        grad_init = [np.zeros((self.num_layers * d, n, h), self.dtype) for _ in range(self.states)]
        for layer in reversed(range(self.num_layers)):
            grad_in: Array | None = None
            for direction, run in enumerate(cache[layer]):
                w_ih, w_hh, b_ih, b_hh = self.cell_parameters(layer, direction)
                k = layer * d + direction
                finals = [
                    np.zeros((n, h), self.dtype) if g is None else np.array(g[k], self.dtype)
                    for g in grad_finals
                ]
                grad_h = grad_seq[:, :, direction * h : (direction + 1) * h] if d == 2 else grad_seq
                dxp, dgh, dinit = self._run_backward(run, grad_h, finals, w_hh.data)
                rows = dxp.shape[2]
                dxp2, dgh2 = dxp.reshape(-1, rows), dgh.reshape(-1, rows)
                w_ih.accumulate_matmul(dxp2.T, run.inputs.reshape(steps * n, -1))
                w_hh.accumulate_matmul(dgh2.T, run.previous(run.outputs, run.init[0]).reshape(steps * n, h))
                if b_ih is not None and b_hh is not None:
                    b_ih.accumulate_sum(dxp2, 0)
                    b_hh.accumulate_sum(dgh2, 0)
                gx = dxp2 @ w_ih.data
                grad_in = gx if grad_in is None else grad_in + gx
                for target, value in zip(grad_init, dinit, strict=True):
                    target[k] = value
            assert grad_in is not None
            grad_seq = grad_in.reshape(steps, n, -1)
            if layer and self.dropouts:
                grad_seq = self.dropouts[layer - 1].backward(grad_seq.transpose(1, 0, 2)).transpose(1, 0, 2)
        dx = self._batch_major(grad_seq)
        if not self._listed:
            return dx
        return [dx, *(self._batch_major(g) for g in grad_init)]

    @override
    def extra_repr(self) -> str:
        extras = [f"num_layers={self.num_layers}"] if self.num_layers > 1 else []
        extras += ["bidirectional=True"] if self.bidirectional else []
        extras += [f"dropout={self.dropout}"] if self.dropout else []
        extras += ["bias=False"] if not self.bias else []
        extras += ["batch_first=False"] if not self.batch_first else []
        return ", ".join([f"{self.input_size}, {self.hidden_size}", *extras])


def _order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


@register_module
class RNN(_Recurrent):
    """Elman RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (``nonlinearity="relu"``: max(0, .)),
    as ``torch.nn.RNN``; see the module docstring for shapes, states and options."""

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        init: str = "torch",
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            init=init, dtype=dtype, rng=rng,
        )  # fmt: skip

    @override
    def _run(
        self, xp: Array, init: list[Array], w_hh: Array, b_hh: Array | None, reverse: bool
    ) -> tuple[Array, tuple[Array, ...], list[Array]]:
        out = np.empty_like(xp)
        if b_hh is not None:
            xp += b_hh  # once for all steps
        h, w_t = init[0], np.ascontiguousarray(w_hh.T)
        for t in _order(len(xp), reverse):
            a = out[t]
            np.matmul(h, w_t, out=a)
            a += xp[t]
            if self.nonlinearity == "tanh":
                np.tanh(a, out=a)
            else:
                np.maximum(a, 0.0, out=a)
            h = a
        return out, (), [h]

    @override
    def _run_backward(
        self, run: _Direction, grad: Array, finals: list[Array], w_hh: Array
    ) -> tuple[Array, Array, list[Array]]:
        out = run.outputs
        da_all = np.empty_like(out)
        dh = finals[0]
        for t in _order(len(out), not run.reverse):
            dh = dh + grad[t]
            da, h = da_all[t], out[t]
            if self.nonlinearity == "tanh":
                np.multiply(h, h, out=da)
                np.subtract(1.0, da, out=da)
                da *= dh
            else:
                np.multiply(dh, h > 0, out=da)
            dh = da @ w_hh
        return da_all, da_all, [dh]

    @override
    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


@register_module
class GRU(_Recurrent):
    """Gated recurrent unit with PyTorch's equations (the reset gate applied after the recurrent
    product, ``torch.nn.GRU``); see the module docstring for shapes, states and options."""

    gates = 3

    @override
    def _run(
        self, xp: Array, init: list[Array], w_hh: Array, b_hh: Array | None, reverse: bool
    ) -> tuple[Array, tuple[Array, ...], list[Array]]:
        steps, n, rows = xp.shape
        size = rows // 3
        out = np.empty((steps, n, size), xp.dtype)
        rz_all = np.empty((steps, n, 2 * size), xp.dtype)  # r and z, activated
        n_all = np.empty_like(out)  # the candidate n
        hn_all = np.empty_like(out)  # W_hn h + b_hn, which r scales
        gh = np.empty((n, rows), xp.dtype)
        scale = np.ones(rows, xp.dtype)
        scale[: 2 * size] = 0.5  # r and z are sigmoids
        w_t, b_hh = halved(w_hh, b_hh, xp, scale)
        h = init[0]
        for t in _order(steps, reverse):
            np.matmul(h, w_t, out=gh)
            if b_hh is not None:
                gh += b_hh
            rz = rz_all[t]
            np.add(xp[t, :, : 2 * size], gh[:, : 2 * size], out=rz)
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            r, z = rz[:, :size], rz[:, size:]
            hn, cand = hn_all[t], n_all[t]
            hn[...] = gh[:, 2 * size :]
            np.multiply(r, hn, out=cand)
            cand += xp[t, :, 2 * size :]
            np.tanh(cand, out=cand)
            new = out[t]  # h' = n + z * (h - n)
            np.subtract(h, cand, out=new)
            new *= z
            new += cand
            h = new
        return out, (rz_all, n_all, hn_all), [h]

    @override
    def _run_backward(
        self, run: _Direction, grad: Array, finals: list[Array], w_hh: Array
    ) -> tuple[Array, Array, list[Array]]:
        rz_all, n_all, hn_all = run.saved
        size = self.hidden_size
        r_all, z_all = rz_all[:, :, :size], rz_all[:, :, size:]
        # the local derivatives of every step at once, outside the loop (big passes, few temporaries)
        dn_da = 1.0 - n_all * n_all  # tanh'
        dr_da = hn_all * r_all * (1.0 - r_all)  # d(r * hn)/d(pre-activation of r)
        dz_da = run.previous(run.outputs, run.init[0]) - n_all  # dh'/dz = h - n, times sig'(z):
        dz_da *= z_all * (1.0 - z_all)
        dxp = np.empty((*n_all.shape[:2], 3 * size), n_all.dtype)
        dgh = np.empty_like(dxp)
        dh = finals[0]
        for t in _order(len(n_all), not run.reverse):
            dh = dh + grad[t]
            dx, dg = dxp[t], dgh[t]
            direct = dh * z_all[t]  # through h' = ... + z * h
            dan = dx[:, 2 * size :]  # dL/d(pre-activation of n) = dh (1 - z) (1 - n^2)
            np.subtract(dh, direct, out=dan)
            dan *= dn_da[t]
            np.multiply(dan, r_all[t], out=dg[:, 2 * size :])  # dL/d(W_hn h + b_hn)
            np.multiply(dan, dr_da[t], out=dx[:, :size])
            np.multiply(dh, dz_da[t], out=dx[:, size : 2 * size])
            dg[:, : 2 * size] = dx[:, : 2 * size]
            dh = direct + dg @ w_hh
        return dxp, dgh, [dh]


@register_module
class LSTM(_Recurrent):
    """Long short-term memory with gates i, f, g, o as ``torch.nn.LSTM`` (no projection);
    returns ``[output, h_n, c_n]``; see the module docstring for shapes, states and options."""

    gates = 4
    states = 2

    @override
    def _run(
        self, xp: Array, init: list[Array], w_hh: Array, b_hh: Array | None, reverse: bool
    ) -> tuple[Array, tuple[Array, ...], list[Array]]:
        steps, n, rows = xp.shape
        size = rows // 4
        gates = np.empty_like(xp)  # i, f, g, o, activated
        cells = np.empty((steps, n, size), xp.dtype)
        tanh_cells = np.empty_like(cells)
        out = np.empty_like(cells)
        # every gate is one tanh pass: i, f, o are sigmoids of halved pre-activations (see halved)
        scale = np.full(rows, 0.5, xp.dtype)
        scale[2 * size : 3 * size] = 1.0
        w_t, b_hh = halved(w_hh, b_hh, xp, scale)
        if b_hh is not None:
            xp += b_hh  # once for all steps
        # then sig = 0.5 t + 0.5 on i, f, o: full-size factors (a broadcast row is twice as slow)
        half = np.ascontiguousarray(np.broadcast_to(scale, (n, rows)))
        shift = np.where(half == 0.5, half, 0.0).astype(xp.dtype)
        scratch = np.empty((n, size), xp.dtype)
        h, c = init[0], init[1]
        for t in _order(steps, reverse):
            a = gates[t]
            np.matmul(h, w_t, out=a)
            a += xp[t]
            np.tanh(a, out=a)
            a *= half
            a += shift
            new_c = cells[t]
            np.multiply(a[:, size : 2 * size], c, out=new_c)
            np.multiply(a[:, :size], a[:, 2 * size : 3 * size], out=scratch)
            new_c += scratch
            np.tanh(new_c, out=tanh_cells[t])
            np.multiply(a[:, 3 * size :], tanh_cells[t], out=out[t])
            h, c = out[t], new_c
        return out, (gates, cells, tanh_cells), [h, c]

    @override
    def _run_backward(
        self, run: _Direction, grad: Array, finals: list[Array], w_hh: Array
    ) -> tuple[Array, Array, list[Array]]:
        gates, cells, tanh_cells = run.saved
        size = self.hidden_size
        prev_cells = run.previous(cells, run.init[1])
        dxp = np.empty_like(gates)
        dh, dc = finals[0].copy(), finals[1].copy()  # updated in place from here on
        # step by step on small, cache-resident arrays: with the gates' derivatives s' (a (1 - a)
        # for i, f, o; 1 - g^2 for g), dL/da = [dc g, dc c_prev, dc i, dh tanh(c)] * s'
        slope = np.empty_like(gates[0])
        scratch = np.empty_like(dh)
        blocks = [slice(k * size, (k + 1) * size) for k in range(4)]
        for t in _order(len(gates), not run.reverse):
            a, da, tc = gates[t], dxp[t], tanh_cells[t]
            i, f, g, o = (a[:, b] for b in blocks)
            di, df, dg, do = (da[:, b] for b in blocks)
            np.subtract(1.0, a, out=slope)
            slope *= a
            slope_g = slope[:, blocks[2]]
            np.multiply(g, g, out=slope_g)
            np.subtract(1.0, slope_g, out=slope_g)
            dh += grad[t]
            np.multiply(dh, tc, out=do)  # dL/do, then through o's slope
            np.multiply(tc, tc, out=scratch)  # dc += dh o (1 - tanh(c)^2)
            np.subtract(1.0, scratch, out=scratch)
            scratch *= o
            scratch *= dh
            dc += scratch
            np.multiply(dc, g, out=di)
            np.multiply(dc, prev_cells[t], out=df)
            np.multiply(dc, i, out=dg)
            da *= slope
            dc *= f
            np.matmul(da, w_hh, out=dh)
        return dxp, dxp, [dh, dc]
