"""Optimizers: PyTorch's documented update rules, applied in place to ``Parameter.data``.

Each optimizer takes a list of parameters, ``step()`` applies one update from their ``.grad``,
``zero_grad()`` clears the gradients, and ``lr`` may be changed between steps (a Schedule does).
The parameters live in flat buffers (one per dtype) and so does the state, allocated once at
construction: a step is a handful of in-place ufuncs over the whole model, whatever its size.
With g = grad + weight_decay * p (L2 added to the gradient, as PyTorch):

| optimizer | update (t = step count from 1)                                                        |
|-----------|---------------------------------------------------------------------------------------|
| SGD       | b = mu b + (1 - dampening) g (b = g at t = 1); p -= lr (g + mu b if nesterov else b)   |
| Adam      | m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) |
| AdamW     | p *= 1 - lr wd (decoupled), then Adam without weight decay                             |
| RMSprop   | v = a v + (1-a) g^2; p -= lr g / (sqrt(v - gavg^2 if centered else v) + eps)          |
| Adagrad   | s += g^2; p -= lr / (1 + (t-1) lr_decay) g / (sqrt(s) + eps)                          |
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar

import numpy as np

from tinynet.core.checks import Array, check_float
from tinynet.core.choices import Choices
from tinynet.core.config import Configurable
from tinynet.core.parameter import FlatGroup, Parameter, distinct, flatten

State = dict[str, Array]


class Optimizer(Configurable):
    """Base class: the parameters in flat storage, the learning rate, the step count and the state.

    ``__init__`` moves ``params`` into flat buffers (see ``tinynet.core.parameter``) and subclasses
    allocate their state there with ``_allocate``; ``step`` then runs ``_update`` once per dtype
    over whole buffers: element-wise rules need no loop over parameters. When a parameter was
    given a new array since (``Module.to``), ``step`` rebuilds the storage first, state included.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("params",)  # the parameters are not a setting

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        given = list(params)
        if not given:
            raise ValueError(f"{type(self).__name__}: params must hold at least one Parameter, got none")
        for index, param in enumerate(given):
            if not isinstance(param, Parameter):
                raise TypeError(
                    f"{type(self).__name__}: params[{index}] must be a Parameter, got {type(param).__name__}"
                    " (pass model.parameters())"
                )
        self.params = distinct(given)
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
        self.t = 0
        self._state_names: tuple[str, ...] = ()
        self._groups: list[FlatGroup] = flatten(self.params)
        self._states: list[State] = [{} for _ in self._groups]
        self._scratch = [np.empty_like(group.data) for group in self._groups]

    def _allocate(self, *names: str) -> None:
        """Create zero-filled flat state buffers ``names`` (once, at construction)."""
        self._state_names += names
        for group, state in zip(self._groups, self._states, strict=True):
            state.update((name, np.zeros_like(group.data)) for name in names)

    @property
    def lr(self) -> float:
        """The learning rate of the next step; a schedule sets it each epoch (>= 0)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        # a schedule may reach 0 at its end (CosineDecay); negative or non-finite never makes sense
        self._lr = check_float(value, "lr", low=0.0)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (lazily: a flag, filled when read)."""
        for param in self.params:
            param.zero_grad()

    def step(self) -> None:
        """Apply one update to every parameter from its current ``.grad``."""
        self.t += 1
        for group in self._groups:
            if not group.valid:
                self._rebuild()
                break
        for group, state, scratch in zip(self._groups, self._states, self._scratch, strict=True):
            group.resolve_grads()
            self._update(group.data, group.grad, state, scratch)

    def _update(self, p: Array, grad: Array, state: State, scratch: Array) -> None:
        """One update of flat data ``p`` from flat gradient ``grad``, in place."""
        raise NotImplementedError

    def _rebuild(self) -> None:
        """New flat storage for the parameters as they are now; the state moves along, cast."""
        self._store(self.param_states())

    def _store(self, states: list[State]) -> None:
        """Flat storage for ``self.params``, with ``states`` (one per parameter) as the state."""
        self._groups = flatten(self.params)
        self._states = [{name: np.zeros_like(g.data) for name in self._state_names} for g in self._groups]
        self._scratch = [np.empty_like(g.data) for g in self._groups]
        for mine, saved in zip(self.param_states(), states, strict=True):
            for name, view in mine.items():
                view[...] = saved[name]

    def __getstate__(self) -> dict[str, Any]:
        """A copy or a pickle keeps each parameter's state, not the flat buffers: the copied
        parameters are new arrays, which the copy puts into flat storage of its own."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_groups", "_states", "_scratch")}
        state["_param_states"] = self.param_states()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_param_states")
        self.__dict__.update(state)
        self._store(saved)

    def param_states(self) -> list[State]:
        """Each parameter's state as views into the flat buffers, in ``params`` order."""
        where: dict[int, State] = {}
        for group, state in zip(self._groups, self._states, strict=True):
            views = {name: group.views(buffer) for name, buffer in state.items()}
            for index, param in enumerate(group.params):
                where[id(param)] = {name: views[name][index] for name in state}
        return [where[id(param)] for param in self.params]

    def _decayed(self, p: Array, grad: Array, weight_decay: float, scratch: Array) -> Array:
        """g = grad + weight_decay * p, written into ``scratch`` (``grad`` itself is not touched)."""
        if weight_decay == 0.0:
            return grad
        np.multiply(p, weight_decay, out=scratch)
        scratch += grad
        return scratch

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments (but ``params``) with their current values."""
        return self.get_config()

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and copies of every parameter's state, for resuming."""
        return {
            "hyperparameters": self.hyperparameters(),
            "t": self.t,
            "state": [{k: v.copy() for k, v in s.items()} for s in self.param_states()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; shapes must match this optimizer's parameters."""
        buffers = state.get("state")
        if not isinstance(buffers, list) or len(buffers) != len(self.params):
            got = len(buffers) if isinstance(buffers, list) else type(buffers).__name__
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected state for {len(self.params)} parameters, "
                f"got {got}"
            )
        mine = self.param_states()
        for index, (views, theirs) in enumerate(zip(mine, buffers, strict=True)):
            for name, view in views.items():
                value = np.asarray(theirs.get(name) if isinstance(theirs, dict) else None)
                if value.shape != view.shape:
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: state[{index}][{name!r}] must have shape "
                        f"{view.shape}, got {value.shape}"
                    )
        for views, theirs in zip(mine, buffers, strict=True):
            for name, view in views.items():
                view[...] = theirs[name]
        self.t = int(state.get("t", 0))
        if "lr" in state.get("hyperparameters", {}):
            self.lr = state["hyperparameters"]["lr"]


def _check_eps(eps: float) -> float:
    return check_float(eps, "eps", low=0.0, low_inclusive=False)


def _check_decay(weight_decay: float) -> float:
    return check_float(weight_decay, "weight_decay", low=0.0)


def _check_betas(betas: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b1 = check_float(betas[0], "betas[0]", low=0.0, high=1.0, high_inclusive=False)
    b2 = check_float(betas[1], "betas[1]", low=0.0, high=1.0, high_inclusive=False)
    return b1, b2


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = check_float(momentum, "momentum", low=0.0)
        self.dampening = check_float(dampening, "dampening", low=0.0, high=1.0)
        self.weight_decay = _check_decay(weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening = 0, got momentum={self.momentum}, "
                f"dampening={self.dampening}"
            )
        if self.momentum != 0.0:
            self._allocate("momentum_buffer")

    def _update(self, p: Array, grad: Array, state: dict[str, Array], scratch: Array) -> None:
        g = self._decayed(p, grad, self.weight_decay, scratch)
        if self.momentum != 0.0:
            buf = state["momentum_buffer"]
            if self.t == 1:
                buf[...] = g
            else:
                buf *= self.momentum
                buf += g if self.dampening == 0.0 else (1.0 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        np.multiply(g, self.lr, out=scratch)
        p -= scratch


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with L2 ``weight_decay`` and ``amsgrad``, as ``torch.optim.Adam``."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.betas = _check_betas(betas)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_decay(weight_decay)
        self.amsgrad = bool(amsgrad)
        self._allocate("exp_avg", "exp_avg_sq", *(["max_exp_avg_sq"] if self.amsgrad else []))

    def _update(self, p: Array, grad: Array, state: dict[str, Array], scratch: Array) -> None:
        g = self._decayed(p, grad, self.weight_decay, scratch)
        self._adam(p, g, state, scratch)

    def _adam(self, p: Array, g: Array, state: dict[str, Array], scratch: Array) -> None:
        b1, b2 = self.betas
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        bias1 = 1.0 - b1**self.t
        bias2 = 1.0 - b2**self.t
        # p -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps), the denominator built in scratch
        np.sqrt(v, out=scratch)
        scratch /= math.sqrt(bias2)
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr / bias1
        p -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as ``torch.optim.AdamW``.

    p *= 1 - lr * weight_decay, then the Adam update on the raw gradient.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _update(self, p: Array, grad: Array, state: dict[str, Array], scratch: Array) -> None:
        if self.weight_decay != 0.0:
            p *= 1.0 - self.lr * self.weight_decay
        self._adam(p, grad, state, scratch)


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), optionally centered and with momentum, as ``torch.optim.RMSprop``."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_decay(weight_decay)
        self.momentum = check_float(momentum, "momentum", low=0.0)
        self.centered = bool(centered)
        self._allocate(
            "square_avg",
            *(["grad_avg"] if self.centered else []),
            *(["momentum_buffer"] if self.momentum > 0.0 else []),
        )

    def _update(self, p: Array, grad: Array, state: dict[str, Array], scratch: Array) -> None:
        g = self._decayed(p, grad, self.weight_decay, scratch)
        v = state["square_avg"]
        v *= self.alpha
        v += (1.0 - self.alpha) * g * g
        if self.centered:
            mean = state["grad_avg"]
            mean *= self.alpha
            mean += (1.0 - self.alpha) * g
            denom = np.sqrt(v - mean * mean)
        else:
            denom = np.sqrt(v)
        denom += self.eps
        if self.momentum > 0.0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / denom
            np.multiply(buf, self.lr, out=scratch)
        else:
            np.divide(g, denom, out=scratch)
            scratch *= self.lr
        p -= scratch


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad`` (initial accumulator 0)."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr)
        self.lr_decay = check_float(lr_decay, "lr_decay", low=0.0)
        self.weight_decay = _check_decay(weight_decay)
        self.eps = _check_eps(eps)
        self._allocate("sum")

    def _update(self, p: Array, grad: Array, state: dict[str, Array], scratch: Array) -> None:
        g = self._decayed(p, grad, self.weight_decay, scratch)
        total = state["sum"]
        total += g * g
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        denom = np.sqrt(total)
        denom += self.eps
        np.divide(g, denom, out=scratch)
        scratch *= clr
        p -= scratch


# The optimizer names of the command line, the search and the estimators, each called as
# ``OPTIMIZERS[name](params, lr=lr)``. "momentum" is SGD with momentum 0.9,
# the name the command line has had since the MLP project tinynet grew from.
OPTIMIZERS: Choices[Callable[..., Optimizer]] = Choices(
    "optimizer",
    {
        "sgd": SGD,
        "momentum": partial(SGD, momentum=0.9),
        "adam": Adam,
        "adamw": AdamW,
        "rmsprop": RMSprop,
        "adagrad": Adagrad,
    },
)
