"""RNN, GRU, LSTM, MultiheadAttention, TransformerEncoderLayer and PositionalEmbedding match torch.nn
in forward and in every gradient (weights copied, dropout 0), float64 to 1e-10 and float32 to 1e-4
relative, on random configurations: lengths 1-20, 1-2 layers, both directions, initial states, both
layouts, every kind of mask."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn

torch = require("torch")
TOL = {np.float64: 1e-10, np.float32: 1e-4}
TORCH_DTYPE = {np.float64: "float64", np.float32: "float32"}


def relative(a: Any, b: Any) -> float:
    """The largest difference relative to the largest magnitude of the reference."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def tensor(a: Any, grad: bool = False) -> Any:
    return torch.tensor(np.ascontiguousarray(a), requires_grad=grad)


def copy_into(theirs: Any, values: dict[str, np.ndarray]) -> None:
    """Copy our parameters into the torch module (their names; load_state_dict checks the set)."""
    state = {name: torch.tensor(np.ascontiguousarray(v)) for name, v in values.items()}
    theirs.load_state_dict(state, strict=True)


# -- recurrent layers ---------------------------------------------------------------------------------
RECURRENT = {"RNN": (tn.RNN, torch.nn.RNN), "GRU": (tn.GRU, torch.nn.GRU), "LSTM": (tn.LSTM, torch.nn.LSTM)}


def recurrent_errors(
    kind: str, config: dict[str, Any], dtype: Any, rng: np.random.Generator
) -> dict[str, float]:
    """Run ours and PyTorch's on one random configuration; the worst relative error of each value."""
    ours_cls, torch_cls = RECURRENT[kind]
    n, steps, e, h = config.pop("n"), config.pop("steps"), config.pop("e"), config.pop("h")
    with_states = config.pop("with_states")
    ours = ours_cls(e, h, dtype=dtype, rng=rng, **config)
    theirs = torch_cls(e, h, **config).to(getattr(torch, TORCH_DTYPE[dtype]))
    copy_into(theirs, {name: p.data for name, p in ours.named_parameters()})
    batch_first = ours.batch_first
    x = rng.standard_normal((n, steps, e) if batch_first else (steps, n, e)).astype(dtype)
    count = ours.num_layers * ours.num_directions
    states = [
        (0.5 * rng.standard_normal((n, count, h) if batch_first else (count, n, h))).astype(dtype)
        for _ in range(ours.states)
    ]
    outputs = ours([x, *states] if with_states else x)
    grads = [rng.standard_normal(o.shape).astype(dtype) for o in outputs]
    ours.zero_grad()
    dx = ours.backward(grads)
    dx_list = dx if with_states else [dx]

    def time_major(a: np.ndarray) -> np.ndarray:  # PyTorch's states are (layers * D, N, H) always
        return a.transpose(1, 0, 2) if batch_first else a

    xt = tensor(x, grad=True)
    state_t = [tensor(time_major(s), grad=True) for s in states] if with_states else []
    if with_states:
        result = theirs(xt, (state_t[0], state_t[1]) if kind == "LSTM" else state_t[0])
    else:
        result = theirs(xt)
    finals = list(result[1]) if kind == "LSTM" else [result[1]]
    loss = (result[0] * tensor(grads[0])).sum()
    for final, g in zip(finals, grads[1:], strict=True):
        loss = loss + (final * tensor(time_major(g))).sum()
    loss.backward()
    assert all(o.dtype == dtype for o in outputs) and all(g.dtype == dtype for g in dx_list)
    errors = {"output": relative(outputs[0], result[0].detach().numpy())}
    for i, (ours_final, final) in enumerate(zip(outputs[1:], finals, strict=True)):
        errors[f"final state {i}"] = relative(time_major(ours_final), final.detach().numpy())
    errors["dx"] = relative(dx_list[0], xt.grad.numpy())
    for i, (ours_grad, state) in enumerate(zip(dx_list[1:], state_t, strict=True)):
        errors[f"d initial state {i}"] = relative(time_major(ours_grad), state.grad.numpy())
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        errors[name] = relative(param.grad, theirs_params[name].grad.numpy())
    return errors


def random_recurrent_config(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    config: dict[str, Any] = {
        "n": int(rng.integers(1, 5)),
        "steps": int(rng.integers(1, 21)),
        "e": int(rng.integers(1, 6)),
        "h": int(rng.integers(1, 7)),
        "bias": bool(rng.random() < 0.8),
        "batch_first": bool(rng.random() < 0.7),
    }
    if kind == "RNN":
        config["nonlinearity"] = "relu" if rng.integers(2) else "tanh"
    return config


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_recurrent_layers_match_torch_on_random_configurations(kind: str, dtype: Any) -> None:
    rng = np.random.default_rng(sum(map(ord, kind)))
    for layers, bidirectional, with_states in itertools.product([1, 2], [False, True], [False, True]):
        for _ in range(3):  # every combination of depth, direction and initial states, 3 random draws
            config = random_recurrent_config(kind, rng)
            config.update(num_layers=layers, bidirectional=bidirectional, with_states=with_states)
            described = dict(config)
            errors = recurrent_errors(kind, config, dtype, rng)
            worst = max(errors, key=errors.__getitem__)
            assert errors[worst] <= TOL[dtype], f"{kind} {described}: {worst} off by {errors[worst]:.2e}"


def test_a_one_step_sequence_and_a_long_one_match_torch() -> None:
    rng = np.random.default_rng(5)
    for steps in (1, 20):
        for kind in RECURRENT:
            config = {"n": 2, "steps": steps, "e": 3, "h": 4, "num_layers": 2, "bidirectional": True,
                      "with_states": True, "batch_first": True}  # fmt: skip
            errors = recurrent_errors(kind, config, np.float64, rng)
            assert max(errors.values()) <= 1e-10, (kind, steps, errors)


def test_recurrent_outputs_feed_a_graph_and_states_flow_back() -> None:
    """output, h_n = GRU(...)(x) in a Graph: both outputs carry gradient, and h_0 is an input."""
    x, h0 = tn.Input(shape=(6, 3), name="x"), tn.Input(shape=(2, 4), name="h0")
    gru = tn.GRU(3, 4, bidirectional=True, rng=0)
    out, h = gru([x, h0])
    model = tn.Graph([x, h0], [tn.Dense(8, 1, rng=1)(out), tn.Flatten()(h)])
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 6, 3)), rng.standard_normal((5, 2, 4))]
    direct = gru(xs)
    y, hidden = model(xs)
    np.testing.assert_array_equal(hidden, direct[1].reshape(5, -1))
    dense = model.get_submodule("dense")
    np.testing.assert_allclose(y, direct[0] @ dense.weight.data + dense.bias.data, rtol=1e-13)
    grads = model.backward([np.ones_like(y), np.ones_like(hidden)])
    assert grads[0].shape == xs[0].shape and grads[1].shape == xs[1].shape
    assert np.abs(grads[1]).sum() > 0, "the initial state gets a gradient"
    with pytest.raises(TypeError, match="unpack them first"):
        tn.Dense(4, 2)(gru(x))


def test_recurrent_layers_refuse_bad_input_with_the_argument_named() -> None:
    lstm = tn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"expected x \(batch, steps, features\) with 3 features"):
        lstm(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"expected x .* at least one step"):
        lstm(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2, 4\), got \(2, 1, 4\)"):
        lstm([np.zeros((2, 5, 3)), np.zeros((2, 1, 4)), np.zeros((2, 2, 4))])
    with pytest.raises(ValueError, match=r"takes x or the list \[x, h_0, c_0\], got a list of 2"):
        lstm([np.zeros((2, 5, 3)), np.zeros((2, 2, 4))])
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        tn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.warns(UserWarning, match="with num_layers=1 it does nothing"):
        tn.GRU(3, 4, dropout=0.5)
    lstm(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="takes a list of 3 gradients"):
        lstm.backward(np.zeros((2, 5, 4)))


def test_dropout_between_layers_acts_in_training_only_and_is_reproducible() -> None:
    x = np.random.default_rng(0).standard_normal((4, 7, 3))
    a, b = tn.GRU(3, 5, num_layers=3, dropout=0.5, rng=1), tn.GRU(3, 5, num_layers=3, dropout=0.5, rng=1)
    np.testing.assert_array_equal(a(x)[0], b(x)[0])  # the same seed: the same masks
    first, second = a(x)[0], a(x)[0]
    assert not np.array_equal(first, second), "fresh masks each training step"
    a.eval()
    plain = tn.GRU(3, 5, num_layers=3, rng=1)
    np.testing.assert_array_equal(a(x)[0], plain(x)[0])  # eval: dropout is off


# -- attention ------------------------------------------------------------------------------------------
def attention_twin(ours: tn.MultiheadAttention, dtype: Any) -> Any:
    theirs = torch.nn.MultiheadAttention(ours.embed_dim, ours.num_heads, bias=ours.has_bias, batch_first=True)
    values = {name.replace("out_proj_", "out_proj."): p.data for name, p in ours.named_parameters()}
    copy_into(theirs.to(getattr(torch, TORCH_DTYPE[dtype])), values)
    return theirs


def attention_errors(ours: tn.MultiheadAttention, theirs: Any, inputs: list[np.ndarray], dtype: Any,
                     masks: dict[str, Any], rng: np.random.Generator) -> dict[str, float]:  # fmt: skip
    """Ours on x (one input: self-attention) or [q, k, v], against PyTorch, output and every gradient."""
    inputs = [a.astype(dtype) for a in inputs]
    out = ours(inputs[0] if len(inputs) == 1 else inputs, **masks)
    y = out[0] if ours.need_weights else out
    g = rng.standard_normal(y.shape).astype(dtype)
    g_weights = rng.standard_normal(out[1].shape).astype(dtype) if ours.need_weights else None
    ours.zero_grad()
    grads = ours.backward([g, g_weights] if ours.need_weights else g)
    grads = grads if isinstance(grads, list) else [grads]
    batch_first = ours.batch_first
    xs = [tensor(a if batch_first else a.transpose(1, 0, 2), grad=True) for a in inputs]
    q, k, v = (xs * 3)[:3] if len(xs) == 1 else xs
    torch_masks = {name: tensor(m) for name, m in masks.items() if m is not None}
    yt, wt = theirs(q, k, v, need_weights=ours.need_weights, average_attn_weights=ours.average_attn_weights,
                    is_causal=False, attn_mask=torch_masks.get("attn_mask"),
                    key_padding_mask=torch_masks.get("key_padding_mask"))  # fmt: skip
    g_t = g if batch_first else g.transpose(1, 0, 2)
    loss = (yt * tensor(g_t)).sum()
    if g_weights is not None:
        loss = loss + (wt * tensor(g_weights)).sum()
    loss.backward()
    y_ours = y if batch_first else y.transpose(1, 0, 2)
    errors = {"output": relative(y_ours, yt.detach().numpy())}
    if g_weights is not None:
        errors["weights"] = relative(out[1], wt.detach().numpy())
    for i, (ours_grad, theirs_input) in enumerate(zip(grads, xs, strict=False)):
        ours_grad = ours_grad if batch_first else ours_grad.transpose(1, 0, 2)
        errors[f"d input {i}"] = relative(ours_grad, theirs_input.grad.numpy())
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        errors[name] = relative(
            param.grad, theirs_params[name.replace("out_proj_", "out_proj.")].grad.numpy()
        )
    return errors


def random_masks(rng: np.random.Generator, n: int, heads: int, length: int, keys: int, causal: bool,
                 dtype: Any) -> dict[str, Any]:  # fmt: skip
    """Some of: a bool or float attn_mask (L, S) or (N * h, L, S), a bool key_padding_mask; every
    query keeps at least one key (PyTorch returns NaN for a row with none when it returns weights)."""
    masks: dict[str, Any] = {}
    if causal:
        masks["attn_mask"] = np.triu(np.ones((length, keys), bool), k=1)
    elif rng.random() < 0.5:
        shape = (length, keys) if rng.random() < 0.5 else (n * heads, length, keys)
        blocked = rng.random(shape) < 0.3
        blocked[..., 0] = False
        masks["attn_mask"] = (
            blocked
            if rng.random() < 0.5
            else np.where(blocked, -np.inf, rng.standard_normal(shape)).astype(dtype)
        )
    if rng.random() < 0.5:
        padding = rng.random((n, keys)) < 0.3
        padding[:, 0] = False
        floats = masks.get("attn_mask", np.zeros(0, bool)).dtype.kind == "f"  # PyTorch wants one kind
        masks["key_padding_mask"] = np.where(padding, -np.inf, 0.0).astype(dtype) if floats else padding
    return masks


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multihead_attention_matches_torch_on_random_configurations(dtype: Any) -> None:
    rng = np.random.default_rng(11)
    for case in range(30):
        heads = int(rng.integers(1, 4))
        e = heads * int(rng.integers(1, 4))
        n, length = int(rng.integers(1, 4)), int(rng.integers(1, 21))
        cross = bool(rng.integers(2))
        keys = int(rng.integers(1, 21)) if cross else length
        causal = not cross and bool(rng.random() < 0.3)
        ours = tn.MultiheadAttention(
            e, heads, bias=bool(rng.random() < 0.8), batch_first=bool(rng.random() < 0.7),
            need_weights=bool(rng.integers(2)), average_attn_weights=bool(rng.integers(2)), dtype=dtype,
            rng=rng,
        )  # fmt: skip
        theirs = attention_twin(ours, dtype)
        masks = random_masks(rng, n, heads, length, keys, causal, dtype)
        shapes = [(n, steps, e) if ours.batch_first else (steps, n, e) for steps in (length, keys, keys)]
        inputs = [rng.standard_normal(shape) for shape in (shapes if cross else shapes[:1])]
        errors = attention_errors(ours, theirs, inputs, dtype, masks, rng)
        worst = max(errors, key=errors.__getitem__)
        assert errors[worst] <= TOL[dtype], (
            f"case {case} ({ours!r}, masks {list(masks)}): {worst} {errors[worst]:.2e}"
        )


def test_causal_attention_equals_an_explicit_triangular_mask() -> None:
    x = np.random.default_rng(0).standard_normal((2, 6, 4))
    causal, plain = tn.MultiheadAttention(4, 2, causal=True, rng=3), tn.MultiheadAttention(4, 2, rng=3)
    np.testing.assert_array_equal(causal(x), plain(x, attn_mask=np.triu(np.ones((6, 6), bool), k=1)))
    changed = x.copy()
    changed[:, 4:] += 1.0  # the future
    np.testing.assert_array_equal(causal(changed)[:, :4], causal(x)[:, :4])


def test_a_fully_masked_row_gives_the_output_bias_and_no_gradient_never_nan() -> None:
    """As PyTorch's path without weights: the row's attention is zero, so its output is out_proj's
    bias and nothing flows back through it. (PyTorch gives NaN there when it also returns weights.)"""
    rng = np.random.default_rng(1)
    ours = tn.MultiheadAttention(4, 2, need_weights=False, rng=2)
    ours.out_proj_bias.data[:] = [1.0, 2.0, 3.0, 4.0]
    theirs = attention_twin(ours, np.float64)
    q, kv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    padding = np.zeros((2, 5), bool)
    padding[0] = True  # every key of the first sample
    errors = attention_errors(ours, theirs, [q, kv, kv], np.float64, {"key_padding_mask": padding}, rng)
    assert max(errors.values()) <= 1e-10, errors
    y = ours([q, kv, kv], key_padding_mask=padding)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[0], np.broadcast_to(ours.out_proj_bias.data, (3, 4)))
    weighted = tn.MultiheadAttention(4, 2, need_weights=True, rng=2)
    out, weights = weighted([q, kv, kv], key_padding_mask=padding)
    np.testing.assert_array_equal(weights[0], np.zeros((3, 5)))
    assert np.isfinite(out).all()
    dq, dk, dv = ours.backward(np.ones_like(y))
    assert not dq[0].any() and not dk[0].any() and not dv[0].any()


def test_attention_masks_and_inputs_are_checked_with_names() -> None:
    attention = tn.MultiheadAttention(4, 2)
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 3\), got \(2, 4\)"):
        attention(x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(3, 3\) or \(4, 3, 3\)"):
        attention(x, attn_mask=np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match=r"expected x \(batch, steps, embed_dim\) with embed_dim 4"):
        attention(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="key and value must have one shape"):
        attention([x, np.zeros((2, 5, 4)), np.zeros((2, 4, 4))])
    with pytest.raises(ValueError, match="must be divisible by num_heads"):
        tn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="key_padding_mask given twice"):
        attention([x, x, x, np.zeros((2, 3))], key_padding_mask=np.zeros((2, 3), bool))


# -- the encoder block and positions ----------------------------------------------------------------------
def encoder_twin(ours: tn.TransformerEncoderLayer, dtype: Any) -> Any:
    theirs = torch.nn.TransformerEncoderLayer(
        ours.d_model, ours.nhead, ours.dim_feedforward, dropout=0.0, activation=ours.activation_name,
        layer_norm_eps=ours.layer_norm_eps, batch_first=True, norm_first=ours.norm_first, bias=ours.has_bias,
    ).to(getattr(torch, TORCH_DTYPE[dtype]))  # fmt: skip
    values = {}
    for name, p in ours.named_parameters():
        transpose = name.startswith("linear") and name.endswith("weight")  # Dense is (in, out)
        values[name.replace("out_proj_", "out_proj.")] = p.data.T if transpose else p.data
    copy_into(theirs, values)
    return theirs.train()  # training mode with dropout 0: PyTorch's reference path, not its fused one


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transformer_encoder_layer_matches_torch(dtype: Any) -> None:
    rng = np.random.default_rng(21)
    for case in range(16):
        norm_first, gelu, causal = bool(case & 1), bool(case & 2), bool(case & 4)
        ours = tn.TransformerEncoderLayer(
            8, 2, 12, dropout=0.0, activation="gelu" if gelu else "relu", norm_first=norm_first,
            causal=causal, batch_first=bool(case & 8), dtype=dtype, rng=rng,
        )  # fmt: skip
        theirs = encoder_twin(ours, dtype)
        n, length = 3, int(rng.integers(1, 21))
        x = rng.standard_normal((n, length, 8)).astype(dtype)
        padding = rng.random((n, length)) < 0.3
        padding[:, 0] = False
        given = x if ours.batch_first else x.transpose(1, 0, 2).copy()
        y = ours(given, key_padding_mask=padding)
        g = rng.standard_normal(y.shape).astype(dtype)
        ours.zero_grad()
        dx = ours.backward(g)
        xt = tensor(x, grad=True)
        mask = tensor(np.triu(np.ones((length, length), bool), k=1)) if causal else None
        yt = theirs(xt, src_mask=mask, src_key_padding_mask=tensor(padding))
        g_batch = g if ours.batch_first else g.transpose(1, 0, 2)
        (yt * tensor(g_batch)).sum().backward()
        errors = {
            "output": relative(y if ours.batch_first else y.transpose(1, 0, 2), yt.detach().numpy()),
            "dx": relative(dx if ours.batch_first else dx.transpose(1, 0, 2), xt.grad.numpy()),
        }
        theirs_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            reference = theirs_params[name.replace("out_proj_", "out_proj.")].grad.numpy()
            transpose = name.startswith("linear") and name.endswith("weight")
            errors[name] = relative(p.grad, reference.T if transpose else reference)
        worst = max(errors, key=errors.__getitem__)
        assert errors[worst] <= TOL[dtype], f"case {case} {ours!r}: {worst} off by {errors[worst]:.2e}"


def test_positional_embedding_adds_a_learned_row_per_position() -> None:
    layer = tn.PositionalEmbedding(10, 3, rng=0)
    x = np.random.default_rng(1).standard_normal((4, 6, 3))
    np.testing.assert_array_equal(layer(x), x + layer.weight.data[:6])
    g = np.random.default_rng(2).standard_normal((4, 6, 3))
    layer.zero_grad()
    np.testing.assert_array_equal(layer.backward(g), g)
    np.testing.assert_allclose(layer.weight.grad[:6], g.sum(axis=0))
    assert not layer.weight.grad[6:].any()
    with pytest.raises(ValueError, match=r"expected x \(batch, steps <= 10, 3\), got shape \(4, 11, 3\)"):
        layer(np.zeros((4, 11, 3)))
    embedding = torch.nn.Embedding(10, 3).double()  # the same thing written the PyTorch way
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor(layer.weight.data))
    expected = tensor(x) + embedding(torch.arange(6))
    np.testing.assert_allclose(layer(x), expected.detach().numpy(), rtol=0, atol=0)


def test_masks_pass_through_a_call_but_not_onto_symbolic_nodes() -> None:
    attention = tn.MultiheadAttention(4, 2, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    mask = np.array([[False, False, True], [False, True, True]])
    np.testing.assert_array_equal(
        attention(x, key_padding_mask=mask), attention.forward(x, key_padding_mask=mask)
    )
    with pytest.raises(
        TypeError, match=r"keyword arguments \['key_padding_mask'\] cannot be given with symbolic"
    ):
        attention(tn.Input(shape=(3, 4)), key_padding_mask=mask)
