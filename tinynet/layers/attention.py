"""Attention: ``MultiheadAttention`` and ``TransformerEncoderLayer``, as ``torch.nn`` (dropout off).

Scaled dot-product attention over h heads of size d = E / h, for queries (N, L, E) and keys and
values (N, S, E) (``batch_first=True``, tinynet's layout; ``False`` takes (L, N, E)):

    Q = q W_q^T + b_q,  K = k W_k^T + b_k,  V = v W_v^T + b_v      (W_q, W_k, W_v: in_proj_weight)
    A = Q_i K_i^T / sqrt(d) + M        per head i; M: the masks, 0 where allowed, -inf where not
    P = softmax(A) over the keys;  O = [P_1 V_1, ..., P_h V_h];  y = O W_o^T + b_o

Backward, with G = dL/dP (from dL/dO, plus dL/d(weights) when they are returned):

    dL/dA = P * (G - sum_keys(G * P)),  dL/dQ_i = dL/dA K_i / sqrt(d),  dL/dK_i = dL/dA^T Q_i / sqrt(d)

Masks follow PyTorch: ``attn_mask`` (L, S) or (N * h, L, S), ``key_padding_mask`` (N, S); a bool
mask is True where attention is *not* allowed, a float mask is added to the scores. A row of P whose
every key is masked is all zeros, never NaN: that query's attention output is zero, its layer output
is the output projection's bias, and no gradient flows through it (PyTorch 2.13 gives the same
without weights, and NaN when it also returns the weights). ``causal=True`` masks the future
(key j > query i).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    check_grad_out,
    check_int,
    fmt_shape,
    one_line,
)
from tinynet.core.container import Container
from tinynet.core.inspect import example_sequence
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module
from tinynet.layers.activation import GELU, ReLU
from tinynet.layers.core import Dense, Dropout
from tinynet.layers.normalization import LayerNorm


def safe_softmax(scores: Array) -> Array:
    """Softmax over the last axis, in place; a row that is all -inf gives zeros (not NaN)."""
    top = scores.max(axis=-1, keepdims=True)
    top[~np.isfinite(top)] = 0.0  # an all -inf row: exp(-inf - 0) = 0
    scores -= top
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    total[total == 0] = 1.0
    scores /= total
    return scores


@dataclass
class _Saved:
    """What one forward kept for backward: the inputs (query, key, value batch-major; whether they
    came as a list; whether a mask came in it), the heads (N, h, T, d), the softmax and the attention
    after dropout (N, h, L, S), the merged heads (N * L, E), and (N, L, S)."""

    inputs: tuple[Array, Array, Array, bool, bool]
    queries: Array
    keys: Array
    values: Array
    probs: Array
    attention: Array
    heads_out: Array
    dims: tuple[int, int, int]


@register_module
class MultiheadAttention(Module):
    """Multi-head attention as ``torch.nn.MultiheadAttention`` (see the module docstring).

    ``forward(x)`` is self-attention (query = key = value = x, one GEMM for the three projections);
    ``forward([query, key, value])`` attends from queries to keys; a fourth item is a
    ``key_padding_mask`` (so a ``Graph`` can feed one; integers: nonzero is padding). The masks may
    also be passed as keywords: ``forward(x, attn_mask=..., key_padding_mask=...)``. The output is
    (N, L, E); with ``need_weights=True`` it is ``[output, weights]``, the attention weights
    averaged over the heads (N, L, S) (per head, (N, h, L, S), with ``average_attn_weights=False``),
    which backward also takes a gradient for. PyTorch returns the weights by default; here they are
    asked for, so the layer chains in a ``Sequential``. backward returns dL/dx, or
    ``[dq, dk, dv]`` (and None for a mask) for a list.

    Parameters (PyTorch's layout): ``in_proj_weight`` (3E, E), ``in_proj_bias`` (3E,),
    ``out_proj_weight`` (E, E) and ``out_proj_bias`` (E,) (PyTorch's ``out_proj.weight``/``.bias``).
    """

    not_settings: ClassVar[tuple[str, ...]] = ("init", "rng")
    setting_attributes: ClassVar[dict[str, str]] = {"bias": "has_bias"}
    caches: ClassVar[tuple[str, ...]] = ("_saved",)

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        *,
        need_weights: bool = False,
        average_attn_weights: bool = True,
        causal: bool = False,
        init: str = "torch",
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        if init not in ("torch", "zeros"):
            raise ValueError(f"init must be 'torch' (PyTorch's initialization) or 'zeros', got {init!r}")
        self.embed_dim = check_int(embed_dim, "embed_dim", minimum=1)
        self.num_heads = check_int(num_heads, "num_heads", minimum=1)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        self.dropout = check_float(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        self.has_bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.need_weights = bool(need_weights)
        self.average_attn_weights = bool(average_attn_weights)
        self.causal = bool(causal)
        resolved = as_float_dtype(dtype)
        generator = as_generator(rng)
        e = self.embed_dim

        # PyTorch's initialization: Xavier-uniform over the whole (3E, E) projection, zero biases,
        # U(-1/sqrt(E), 1/sqrt(E)) for the output projection
        def weight(shape: tuple[int, int], bound: float, name: str) -> Parameter:
            values = allocate(shape, resolved)
            if init == "torch":
                values[...] = generator.uniform(-bound, bound, shape)
            return Parameter(values, True, name, copy=False)

        self.in_proj_weight = weight((3 * e, e), math.sqrt(6.0 / (e + 3 * e)), "in_proj_weight")
        self.in_proj_bias = Parameter(allocate((3 * e,), resolved), False, "in_proj_bias") if bias else None
        self.out_proj_weight = weight((e, e), 1.0 / math.sqrt(e), "out_proj_weight")
        self.out_proj_bias = Parameter(allocate((e,), resolved), False, "out_proj_bias") if bias else None
        # on the attention weights in training; a Dropout child only when it does something
        self.attn_dropout = Dropout(self.dropout, rng=generator) if self.dropout > 0 else None
        self._saved: _Saved | None = None

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """The layer with zero weights (no random draw; a model file's weights are loaded next). Its
        Dropout child carries nothing the settings do not."""
        return cls(**config, init="zeros")

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.in_proj_weight.data.dtype

    def example_input(self, in_features: int | tuple[int, ...] | None = None) -> Array:
        """One sequence of 4 steps (or of ``in_features`` shape (L, E)) for ``summary()``."""
        return example_sequence(in_features, self.embed_dim, self.dtype)

    # -- inputs and masks -----------------------------------------------------------------------
    def _sequence(self, value: Any, name: str) -> Array:
        array = as_array(value, name)
        layout = "(batch, steps, embed_dim)" if self.batch_first else "(steps, batch, embed_dim)"
        if array.ndim != 3 or array.shape[2] != self.embed_dim or 0 in array.shape[:2]:
            raise ValueError(
                f"{self!r} expected {name} {layout} with embed_dim {self.embed_dim}, got shape "
                f"{fmt_shape(array.shape)}"
            )
        batch_major = array.transpose(1, 0, 2) if not self.batch_first else array
        return np.ascontiguousarray(batch_major, dtype=self.dtype)

    def _mask(self, attn_mask: Any, key_padding_mask: Any, n: int, length: int, keys: int) -> Array | None:
        """Every mask as one additive array broadcasting to the scores (N, h, L, S), or None."""
        total: Array | None = None

        def additive(mask: Any, name: str, shapes: list[tuple[int, ...]]) -> Array:
            array = as_array(mask, name)
            if array.shape not in shapes:
                expected = " or ".join(fmt_shape(s) for s in shapes)
                raise ValueError(f"{self!r}: {name} must have shape {expected}, got {fmt_shape(array.shape)}")
            if array.dtype.kind in "biu":  # True (nonzero): not allowed
                return np.where(array != 0, -np.inf, 0.0).astype(self.dtype)
            return array.astype(self.dtype)

        if attn_mask is not None:
            shapes = [(length, keys), (n * self.num_heads, length, keys)]
            mask = additive(attn_mask, "attn_mask", shapes)
            total = mask if mask.ndim == 2 else mask.reshape(n, self.num_heads, length, keys)
        if key_padding_mask is not None:
            padding = additive(key_padding_mask, "key_padding_mask", [(n, keys)])[:, None, None, :]
            total = padding if total is None else total + padding
        if self.causal:
            future = np.triu(np.full((length, keys), -np.inf, self.dtype), k=1)
            total = future if total is None else total + future
        return total

    def _split(self, x: Any) -> tuple[Array, Array, Array, Any, bool]:
        if not isinstance(x, (list, tuple)):
            q = self._sequence(x, "x")
            return q, q, q, None, False
        if len(x) not in (3, 4):
            raise ValueError(
                f"{self!r} takes x, or [query, key, value] with an optional key_padding_mask, got a list "
                f"of {len(x)}"
            )
        q, k, v = (
            self._sequence(part, name) for part, name in zip(x, ("query", "key", "value"), strict=False)
        )
        if k.shape[:2] != v.shape[:2] or q.shape[0] != k.shape[0]:
            raise ValueError(
                f"{self!r}: key and value must have one shape (batch, S, E) and the batch of query, got "
                f"query {fmt_shape(q.shape)}, key {fmt_shape(k.shape)}, value {fmt_shape(v.shape)}"
            )
        return q, k, v, x[3] if len(x) == 4 else None, True

    def _heads(self, values: Array, n: int) -> Array:
        """(N * T, E) -> (N, h, T, d), contiguous."""
        h = self.num_heads
        return np.ascontiguousarray(values.reshape(n, -1, h, self.embed_dim // h).transpose(0, 2, 1, 3))

    # -- the computation ------------------------------------------------------------------------
    @override
    def forward(self, x: Any, attn_mask: Any = None, key_padding_mask: Any = None) -> Any:
        q, k, v, listed_mask, listed = self._split(x)
        if listed_mask is not None:
            if key_padding_mask is not None:
                raise ValueError(f"{self!r}: key_padding_mask given twice (in the list and as a keyword)")
            key_padding_mask = listed_mask
        n, length, e = q.shape
        keys = k.shape[1]
        w = self.in_proj_weight.data
        b = self.in_proj_bias.data if self.in_proj_bias is not None else None
        if not listed:  # self-attention: one GEMM for Q, K and V
            qkv = q.reshape(-1, e) @ w.T
            if b is not None:
                qkv += b
            projected = [qkv[:, i * e : (i + 1) * e] for i in range(3)]
        else:
            projected = []
            for i, part in enumerate((q, k, v)):
                p = part.reshape(-1, e) @ w[i * e : (i + 1) * e].T
                if b is not None:
                    p += b[i * e : (i + 1) * e]
                projected.append(p)
        queries, keys_h, values = (self._heads(p, n) for p in projected)
        scale = 1.0 / math.sqrt(e // self.num_heads)
        scores = (queries * scale) @ keys_h.transpose(0, 1, 3, 2)  # (N, h, L, S)
        mask = self._mask(attn_mask, key_padding_mask, n, length, keys)
        if mask is not None:
            scores += mask
        probs = safe_softmax(scores)
        attention = probs if self.attn_dropout is None else self.attn_dropout.forward(probs)
        heads_out = attention @ values  # (N, h, L, d)
        merged = np.ascontiguousarray(heads_out.transpose(0, 2, 1, 3)).reshape(n * length, e)
        y = merged @ self.out_proj_weight.data.T
        if self.out_proj_bias is not None:
            y += self.out_proj_bias.data
        self._saved = _Saved(
            inputs=(q, k, v, listed, listed_mask is not None),
            queries=queries,
            keys=keys_h,
            values=values,
            probs=probs,
            attention=attention,
            heads_out=merged,
            dims=(n, length, keys),
        )
        out = y.reshape(n, length, e)
        out = out if self.batch_first else np.ascontiguousarray(out.transpose(1, 0, 2))
        if not self.need_weights:
            return out
        weights = attention.mean(axis=1) if self.average_attn_weights else attention
        return [out, weights]

    def _grads(self, grad_out: Any, saved: _Saved) -> tuple[Array, Array | None]:
        n, length, keys = saved.dims
        e, h = self.embed_dim, self.num_heads
        shape = (n, length, e) if self.batch_first else (length, n, e)
        weights_shape = (n, length, keys) if self.average_attn_weights else (n, h, length, keys)
        if self.need_weights:
            if not isinstance(grad_out, (list, tuple)) or len(grad_out) != 2:
                raise ValueError(
                    f"{self!r}.backward takes [d output, d weights] (None for weights nothing depends on), "
                    f"got {type(grad_out).__name__}"
                )
            g, g_weights = grad_out
        else:
            g, g_weights = grad_out, None
        g = np.asarray(g)
        if g.shape != shape:
            raise ValueError(
                f"{self!r}.backward: grad_out must have the shape of the forward output {fmt_shape(shape)}, "
                f"got {fmt_shape(g.shape)}"
            )
        if g_weights is not None:
            g_weights = np.asarray(g_weights)
            if g_weights.shape != weights_shape:
                raise ValueError(
                    f"{self!r}.backward: the weights' gradient must have shape {fmt_shape(weights_shape)}, "
                    f"got {fmt_shape(g_weights.shape)}"
                )
        g = g if self.batch_first else g.transpose(1, 0, 2)
        return np.ascontiguousarray(g).reshape(n * length, e), g_weights

    @override
    def backward(self, grad_out: Any) -> Any:
        saved = self._cached(self._saved)
        g, g_weights = self._grads(grad_out, saved)
        n, length, _ = saved.dims
        e, h = self.embed_dim, self.num_heads
        self.out_proj_weight.accumulate_matmul(g.T, saved.heads_out)
        if self.out_proj_bias is not None:
            self.out_proj_bias.accumulate_sum(g, 0)
        d_heads = self._heads(g @ self.out_proj_weight.data, n)  # dL/dO per head (N, h, L, d)
        d_values = saved.attention.transpose(0, 1, 3, 2) @ d_heads
        d_attention = d_heads @ saved.values.transpose(0, 1, 3, 2)  # (N, h, L, S)
        if g_weights is not None:  # the returned weights are the attention after dropout, averaged
            through = g_weights[:, None] / h if self.average_attn_weights else g_weights
            d_attention = d_attention + through
        dropout = self.attn_dropout
        d_probs = d_attention if dropout is None else dropout.backward(d_attention)
        probs = saved.probs
        d_scores = d_probs * probs
        d_scores -= probs * d_scores.sum(axis=-1, keepdims=True)  # P (G - sum(G P))
        d_scores *= 1.0 / math.sqrt(e // h)
        d_queries = d_scores @ saved.keys
        d_keys = d_scores.transpose(0, 1, 3, 2) @ saved.queries
        grads = [
            np.ascontiguousarray(part.transpose(0, 2, 1, 3)).reshape(-1, e)
            for part in (d_queries, d_keys, d_values)
        ]
        q, k, v, listed, had_mask = saved.inputs
        w = self.in_proj_weight.data
        if not listed:
            d_qkv = np.concatenate(grads, axis=1)
            self.in_proj_weight.accumulate_matmul(d_qkv.T, q.reshape(-1, e))
            if self.in_proj_bias is not None:
                self.in_proj_bias.accumulate_sum(d_qkv, 0)
            return self._batch_layout((d_qkv @ w).reshape(n, length, e))
        grad_w = self.in_proj_weight.grad
        grad_b = self.in_proj_bias.grad if self.in_proj_bias is not None else None
        results: list[Array | None] = []
        for i, (part, d_part) in enumerate(zip((q, k, v), grads, strict=True)):
            rows = slice(i * e, (i + 1) * e)
            grad_w[rows] += d_part.T @ part.reshape(-1, e)
            if grad_b is not None:
                grad_b[rows] += d_part.sum(axis=0)
            results.append(self._batch_layout((d_part @ w[rows]).reshape(part.shape)))
        return [*results, None] if had_mask else results

    def _batch_layout(self, value: Array) -> Array:
        return value if self.batch_first else np.ascontiguousarray(value.transpose(1, 0, 2))

    @override
    def extra_repr(self) -> str:
        extras = [f"{self.embed_dim}, num_heads={self.num_heads}"]
        extras += [f"dropout={self.dropout}"] if self.dropout else []
        extras += ["causal=True"] if self.causal else []
        extras += ["need_weights=True"] if self.need_weights else []
        extras += ["bias=False"] if not self.has_bias else []
        extras += ["batch_first=False"] if not self.batch_first else []
        return ", ".join(extras)


ACTIVATIONS = ("relu", "gelu")


@register_module
class TransformerEncoderLayer(Container):
    """A Transformer encoder block as ``torch.nn.TransformerEncoderLayer``, built from public layers:
    ``self_attn`` (MultiheadAttention), ``linear1``/``linear2`` (Dense, the feed-forward network with
    ``activation`` "relu" or "gelu" between), ``norm1``/``norm2`` (LayerNorm) and Dropouts.

    post-norm (default):   x = norm1(x + SA(x));      y = norm2(x + FF(x))
    pre-norm (norm_first): x = x + SA(norm1(x));      y = x + FF(norm2(x))

    Input (N, L, E) (``batch_first``), or ``[x, key_padding_mask]``; masks may also be keywords
    (``attn_mask``, ``key_padding_mask``); ``causal=True`` masks the future in the attention.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("rng",)
    setting_attributes: ClassVar[dict[str, str]] = {
        "bias": "has_bias",
        "dropout": "dropout_p",
        "activation": "activation_name",
    }
    caches: ClassVar[tuple[str, ...]] = ("_listed", "_shape")

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        causal: bool = False,
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self._settings(
            d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
            bias, causal,
        )  # fmt: skip
        generator = as_generator(rng)
        resolved = as_float_dtype(dtype)
        p = self.dropout_p
        self.self_attn = MultiheadAttention(
            d_model, nhead, p, bias, True, causal=causal, dtype=resolved, rng=generator
        )
        dense: dict[str, Any] = {"init": "xavier_uniform", "bias": bias, "dtype": resolved, "rng": generator}
        self.linear1 = Dense(d_model, dim_feedforward, **dense)
        self.dropout = Dropout(p, rng=generator)
        self.linear2 = Dense(dim_feedforward, d_model, **dense)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=resolved)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=resolved)
        self.dropout1 = Dropout(p, rng=generator)
        self.dropout2 = Dropout(p, rng=generator)
        self.activation: Module = ReLU() if activation == "relu" else GELU()

    def _settings(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        activation: str,
        layer_norm_eps: float,
        batch_first: bool,
        norm_first: bool,
        bias: bool,
        causal: bool,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        self.d_model = check_int(d_model, "d_model", minimum=1)
        self.nhead = check_int(nhead, "nhead", minimum=1)
        self.dim_feedforward = check_int(dim_feedforward, "dim_feedforward", minimum=1)
        self.dropout_p = check_float(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        self.activation_name = activation
        self.layer_norm_eps = check_float(layer_norm_eps, "layer_norm_eps", low=0.0, low_inclusive=False)
        self.batch_first = bool(batch_first)
        self.norm_first = bool(norm_first)
        self.has_bias = bool(bias)
        self.causal = bool(causal)
        self._listed: bool | None = None
        self._shape: tuple[int, ...] | None = None

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """The block around ``children`` (its parts rebuilt from a file, in ``named_children`` order);
        nothing is allocated around them. (A new block comes from the constructor.)"""
        if not children:
            raise ValueError("TransformerEncoderLayer.from_config needs its 9 parts (children), got none")
        block = cls.__new__(cls)
        Container.__init__(block)
        block._settings(**{k: v for k, v in config.items() if k != "dtype"})
        e, ff = block.d_model, block.dim_feedforward
        expected: list[tuple[str, type, Any]] = [
            ("self_attn", MultiheadAttention, lambda m: (m.embed_dim, m.num_heads) == (e, block.nhead)),
            ("linear1", Dense, lambda m: (m.in_features, m.out_features) == (e, ff)),
            ("dropout", Dropout, None),
            ("linear2", Dense, lambda m: (m.in_features, m.out_features) == (ff, e)),
            ("norm1", LayerNorm, lambda m: m.normalized_shape == (e,)),
            ("norm2", LayerNorm, lambda m: m.normalized_shape == (e,)),
            ("dropout1", Dropout, None),
            ("dropout2", Dropout, None),
            ("activation", ReLU if block.activation_name == "relu" else GELU, None),
        ]
        if len(children) != len(expected):
            raise ValueError(f"TransformerEncoderLayer has {len(expected)} parts, got {len(children)}")
        for (name, kind, fits), child in zip(expected, children, strict=True):
            if type(child) is not kind or (fits is not None and not fits(child)):
                raise ValueError(
                    f"TransformerEncoderLayer.{name} must be a {kind.__name__} fitting d_model={e}, "
                    f"nhead={block.nhead}, dim_feedforward={ff}; got {one_line(child)}"
                )
            setattr(block, name, child)
        return block

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.self_attn.dtype

    def example_input(self, in_features: int | tuple[int, ...] | None = None) -> Array:
        """One sequence of 4 steps (or of ``in_features`` shape (L, E)) for ``summary()``."""
        return example_sequence(in_features, self.d_model, self.dtype)

    def _feed_forward(self, x: Array) -> Array:
        hidden = self.call_child("linear1", self.linear1.forward, x)
        hidden = self.call_child("activation", self.activation.forward, hidden)
        hidden = self.call_child("dropout", self.dropout.forward, hidden)
        return self.call_child("linear2", self.linear2.forward, hidden)

    def _feed_forward_backward(self, g: Array) -> Array:
        g = self.call_child("linear2", self.linear2.backward, g)
        g = self.call_child("dropout", self.dropout.backward, g)
        g = self.call_child("activation", self.activation.backward, g)
        return self.call_child("linear1", self.linear1.backward, g)

    def _attend(self, x: Array, attn_mask: Any, key_padding_mask: Any) -> Array:
        def attend(value: Array) -> Array:
            y: Array = self.self_attn.forward(value, attn_mask=attn_mask, key_padding_mask=key_padding_mask)
            return y

        return self.call_child("dropout1", self.dropout1.forward, self.call_child("self_attn", attend, x))

    def _attend_backward(self, g: Array) -> Array:
        g = self.call_child("dropout1", self.dropout1.backward, g)
        return self.call_child("self_attn", self.self_attn.backward, g)

    @override
    def forward(self, x: Any, attn_mask: Any = None, key_padding_mask: Any = None) -> Array:
        listed = isinstance(x, (list, tuple))
        if listed:
            if len(x) != 2:
                raise ValueError(f"{self!r} takes x or [x, key_padding_mask], got a list of {len(x)}")
            if key_padding_mask is not None:
                raise ValueError(f"{self!r}: key_padding_mask given twice (in the list and as a keyword)")
            x, key_padding_mask = x
        array = as_array(x, "x")
        if array.ndim != 3 or array.shape[2] != self.d_model:
            layout = "(batch, steps, d_model)" if self.batch_first else "(steps, batch, d_model)"
            raise ValueError(
                f"{self!r} expected x {layout} with d_model {self.d_model}, got {fmt_shape(array.shape)}"
            )
        array = array.astype(self.dtype, copy=False)
        if not self.batch_first:
            array = np.ascontiguousarray(array.transpose(1, 0, 2))
        self._listed = listed
        if self.norm_first:
            x1 = array + self._attend(
                self.call_child("norm1", self.norm1.forward, array), attn_mask, key_padding_mask
            )
            normed = self.call_child("norm2", self.norm2.forward, x1)
            y = x1 + self.call_child("dropout2", self.dropout2.forward, self._feed_forward(normed))
        else:
            x1 = self.call_child(
                "norm1", self.norm1.forward, array + self._attend(array, attn_mask, key_padding_mask)
            )
            ff = self.call_child("dropout2", self.dropout2.forward, self._feed_forward(x1))
            y = self.call_child("norm2", self.norm2.forward, x1 + ff)
        y = y if self.batch_first else np.ascontiguousarray(y.transpose(1, 0, 2))
        self._shape = y.shape
        return y

    @override
    def backward(self, grad_out: Any) -> Any:
        listed = self._cached(self._listed)
        g = check_grad_out(grad_out, self._cached(self._shape), self)
        if not self.batch_first:
            g = np.ascontiguousarray(g.transpose(1, 0, 2))
        if self.norm_first:
            g_ff = self.call_child("dropout2", self.dropout2.backward, g)
            g1 = g + self.call_child("norm2", self.norm2.backward, self._feed_forward_backward(g_ff))
            dx = g1 + self.call_child("norm1", self.norm1.backward, self._attend_backward(g1))
        else:
            g2 = self.call_child("norm2", self.norm2.backward, g)
            g_ff = self.call_child("dropout2", self.dropout2.backward, g2)
            g1 = self.call_child("norm1", self.norm1.backward, g2 + self._feed_forward_backward(g_ff))
            dx = g1 + self._attend_backward(g1)
        dx = dx if self.batch_first else np.ascontiguousarray(dx.transpose(1, 0, 2))
        return [dx, None] if listed else dx

    @override
    def extra_repr(self) -> str:
        extras = [f"{self.d_model}, nhead={self.nhead}, dim_feedforward={self.dim_feedforward}"]
        extras += [f"dropout={self.dropout_p}", f"activation={self.activation_name!r}"]
        extras += ["norm_first=True"] if self.norm_first else []
        extras += ["causal=True"] if self.causal else []
        return ", ".join(extras)
