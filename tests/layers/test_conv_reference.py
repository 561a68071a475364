"""Convolution, pooling, BatchNorm2d and Dropout2d match torch.nn in forward and every gradient."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn

torch = require("torch")
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def run_both(ours: tn.Module, theirs: Any, x: np.ndarray, dtype: Any) -> dict[str, float]:
    """The worst relative error of the output and of every gradient, against ``theirs``."""
    x = x.astype(dtype)
    y = ours(x)
    g = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
    ours.zero_grad()
    gx = ours.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    errors = {"y": relative(y, yt.detach().numpy()), "x": relative(gx, xt.grad.numpy())}
    for name, param in ours.named_parameters():
        errors[name] = relative(param.grad, getattr(theirs, name).grad.numpy())
    assert y.dtype == gx.dtype == dtype
    return errors


def torch_twin(ours: Any, cls: Any, dtype: Any) -> Any:
    twin = cls(
        ours.in_channels, ours.out_channels, ours.kernel_size, stride=ours.stride, padding=ours.padding,
        dilation=ours.dilation, groups=ours.groups, bias=ours.has_bias,
    ).to(torch.float64 if dtype == np.float64 else torch.float32)  # fmt: skip
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(ours.weight.data))
        if ours.bias is not None:
            twin.bias.copy_(torch.tensor(ours.bias.data))
    return twin


# odd sizes, stride 1-3, padding (ints, "same", "valid"), dilation 1-2, groups, 1-8 channels
CONFIGS = [
    (cin, cout, k, stride, padding, dilation, groups)
    for (cin, cout, groups), k, stride, padding, dilation in itertools.product(
        [(1, 1, 1), (3, 5, 1), (4, 6, 2), (8, 8, 8), (2, 8, 2)],
        [1, 2, 3],
        [1, 2, 3],
        [0, 1, "same", "valid"],
        [1, 2],
    )
    if not (padding == "same" and stride != 1)
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")  # torch's
@pytest.mark.parametrize("dims", [1, 2])
def test_convolutions_match_torch_on_many_configurations(dims: int) -> None:
    rng = np.random.default_rng(dims)
    ours_cls, torch_cls = (tn.Conv1d, torch.nn.Conv1d) if dims == 1 else (tn.Conv2d, torch.nn.Conv2d)
    worst = {np.float64: 0.0, np.float32: 0.0}
    for cin, cout, k, stride, padding, dilation, groups in CONFIGS[:: 1 if dims == 1 else 2]:
        for dtype in (np.float64, np.float32):
            ours = ours_cls(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups,
                            bias=bool(k % 2), dtype=dtype, rng=rng)  # fmt: skip
            spatial = (11,) if dims == 1 else (9, 8)
            x = rng.standard_normal((3, cin, *spatial))
            errors = run_both(ours, torch_twin(ours, torch_cls, dtype), x, dtype)
            worst[dtype] = max(worst[dtype], *errors.values())
    assert worst[np.float64] <= 1e-10 and worst[np.float32] <= 1e-4, worst


POOLS = [
    (lambda: tn.MaxPool1d(3, 2, 1), lambda: torch.nn.MaxPool1d(3, 2, 1), (2, 3, 11)),
    (lambda: tn.MaxPool1d(2), lambda: torch.nn.MaxPool1d(2), (2, 3, 10)),
    (lambda: tn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2), (2, 4, 8, 6)),
    (lambda: tn.MaxPool2d(3, 2, 1), lambda: torch.nn.MaxPool2d(3, 2, 1), (2, 3, 9, 7)),
    (lambda: tn.MaxPool2d((2, 3), (1, 2)), lambda: torch.nn.MaxPool2d((2, 3), (1, 2)), (2, 2, 6, 7)),
    (lambda: tn.AvgPool1d(3, 2, 1), lambda: torch.nn.AvgPool1d(3, 2, 1), (2, 3, 11)),
    (lambda: tn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2), (2, 3, 8, 6)),
    (lambda: tn.AvgPool2d(3, 2, 1), lambda: torch.nn.AvgPool2d(3, 2, 1), (2, 3, 9, 7)),
    (
        lambda: tn.AvgPool2d(3, 2, 1, count_include_pad=False),
        lambda: torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        (2, 3, 9, 7),
    ),
    (tn.AdaptiveAvgPool1d, lambda: torch.nn.AdaptiveAvgPool1d(1), (2, 3, 7)),
    (tn.AdaptiveAvgPool2d, lambda: torch.nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("ours", "theirs", "shape"), POOLS)
def test_pooling_matches_torch_ties_included(
    ours: Any, theirs: Any, shape: tuple[int, ...], dtype: Any
) -> None:
    x = np.round(np.random.default_rng(0).standard_normal(shape), 1)  # rounded: many equal maxima
    errors = run_both(ours(), theirs(), x, dtype)
    assert max(errors.values()) <= TOL[dtype], errors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm2d_as_torch(training: bool, dtype: Any) -> None:
    ours = tn.BatchNorm2d(3, momentum=0.3, dtype=dtype)
    theirs = torch.nn.BatchNorm2d(3, momentum=0.3).to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(5)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.standard_normal(3)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(3)))
        theirs.running_var.copy_(torch.tensor(rng.uniform(0.5, 2, 3)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items() if k != "num_batches_tracked"})
    ours.train(training), theirs.train(training)
    errors = run_both(ours, theirs, rng.standard_normal((4, 3, 5, 6)), dtype)
    assert max(errors.values()) <= TOL[dtype], errors
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=TOL[dtype])


def test_dropout2d_drops_whole_channels_and_is_the_identity_in_eval() -> None:
    layer = tn.Dropout2d(0.5, rng=0)
    x = np.ones((8, 6, 3, 3))
    y = layer(x)
    per_channel = y.reshape(8, 6, -1)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2)), (
        "a channel is zeroed whole"
    )
    assert 0 < (per_channel == 0).all(axis=2).mean() < 1
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)
    assert np.array_equal(layer.eval()(x), x)


def test_convolution_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="divisible by groups"):
        tn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        tn.Conv1d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"expected input \(batch, 3, H, W\), got shape \(2, 4, 5, 5\)"):
        tn.Conv2d(3, 4, 3)(np.ones((2, 4, 5, 5)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        tn.Conv1d(1, 1, 5)(np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match="at most half the kernel"):
        tn.MaxPool2d(2, padding=2)


def test_outputs_and_gradients_never_alias_the_reused_buffers() -> None:
    """One sample, one channel: outputs that are contiguous views would share the layer's buffers."""
    layer = tn.Conv2d(2, 1, 3, padding=1, rng=0)
    first = layer(np.ones((1, 2, 4, 4)))
    kept = first.copy()
    grad = layer.backward(np.ones_like(first))
    grad_kept = grad.copy()
    layer(np.zeros((1, 2, 4, 4)))
    layer.backward(np.full_like(first, 3.0))
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(grad, grad_kept)
