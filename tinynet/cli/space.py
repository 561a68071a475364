"""What ``tinynet search`` varies: the settings and the values each may take.

A dimension is a setting of ``tinynet train`` (named like its flag, without dashes) with either a
list of values (``learning_rate=0.01,0.1``; for ``layers`` candidates are separated by ``;``:
``layers=16 8;32``) or a range: ``uniform:LOW:HIGH`` and ``log:LOW:HIGH`` (log-uniform) for settings
that take any number, ``int:LOW:HIGH`` and ``logint:LOW:HIGH`` for whole numbers, both ends included.
Every value is checked like the flag it stands for, a range at both its ends, before any training.

A grid search tries every combination of lists; a random search draws candidates from a seeded
``numpy.random.Generator`` (lists without repetition when every dimension is a list, as
scikit-learn's ``ParameterSampler``); Optuna's sampler draws them through ``suggest``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinynet.cli.parser import CLIError, Parser
from tinynet.cli.train import flag_error
from tinynet.tabular import TabularSettings
from tinynet.tabular.settings import SettingError

MAX_CANDIDATES = 10_000
# settings a search may vary: what the network is and how it trains, not which rows it sees
NOT_IN_SPACE = {"task", "dataset", "target", "delimiter", "features", "drop", "missing", "test_size", "seed"}
RANGES = {"uniform": "float", "log": "float", "int": "int", "logint": "int"}


@dataclass(frozen=True)
class Candidate:
    """One point of the space: each setting's value as shown (``labels``) and as parsed (``changes``)."""

    labels: dict[str, str]
    changes: dict[str, Any]


@dataclass(frozen=True)
class Dimension:
    """A setting and its values: a list (``kind == "choice"``) or a range ``[low, high]``."""

    name: str
    kind: str = "choice"
    texts: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    action: argparse.Action | None = field(default=None, compare=False, repr=False)

    @property
    def is_choice(self) -> bool:
        return self.kind == "choice"

    def describe(self) -> str:
        if self.is_choice:
            return f"{self.name} {', '.join(self.texts)}"
        kind = {"uniform": "uniform", "log": "log-uniform", "int": "whole", "logint": "log-uniform whole"}
        return f"{self.name} {kind[self.kind]} in [{_text(self.low)}, {_text(self.high)}]"

    def value(self, number: float) -> tuple[str, Any]:
        """A drawn number as (label, value), checked like the flag (exact for ranges' interiors)."""
        if RANGES[self.kind] == "int":
            number = int(number)
        text = _text(number)
        assert self.action is not None
        return text, _convert(self.action, text, f"{self.name}={text}", "--space")

    def sample(self, rng: np.random.Generator) -> tuple[str, Any]:
        if self.is_choice:
            i = int(rng.integers(len(self.values)))
            return self.texts[i], self.values[i]
        if self.kind == "uniform":
            return self.value(float(rng.uniform(self.low, self.high)))
        if self.kind == "log":
            return self.value(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.kind == "int":
            return self.value(int(rng.integers(int(self.low), int(self.high) + 1)))
        # logint: uniform in log(low) .. log(high + 1), floored: each whole number's share is its width
        drawn = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
        return self.value(min(int(drawn), int(self.high)))

    def suggest(self, trial: Any) -> tuple[str, Any]:
        """The value an Optuna trial asks for (lists as their texts, so any value can be stored)."""
        if self.is_choice:
            text = trial.suggest_categorical(self.name, list(self.texts))
            return text, self.values[self.texts.index(text)]
        if RANGES[self.kind] == "int":
            return self.value(
                trial.suggest_int(self.name, int(self.low), int(self.high), log=self.kind == "logint")
            )
        return self.value(trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log"))

    def from_stored(self, stored: Any) -> tuple[str, Any]:
        """The (label, value) of a value an Optuna trial stored (an earlier run's, with --storage)."""
        if self.is_choice:
            if stored not in self.texts:
                raise CLIError(f"--storage: a stored trial has {self.name}={stored!r}, not in this search")
            return str(stored), self.values[self.texts.index(stored)]
        return self.value(float(stored))


@dataclass
class Space:
    """The dimensions of a search, in the order given."""

    dimensions: list[Dimension] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def values(self) -> list[list[Any]]:
        """Each list dimension's values (the grid)."""
        return [list(d.values) for d in self.dimensions]

    @property
    def is_grid(self) -> bool:
        return all(d.is_choice for d in self.dimensions)

    def __len__(self) -> int:
        """Combinations of the lists (a space with a range has no end: 0)."""
        return math.prod(len(d.values) for d in self.dimensions) if self.is_grid else 0

    def describe(self) -> str:
        return " x ".join(d.describe() for d in self.dimensions) or "the given settings only"

    def grid(self) -> list[Candidate]:
        """Every combination, the last setting varying fastest (as ``itertools.product``)."""
        texts = itertools.product(*(d.texts for d in self.dimensions))
        values = itertools.product(*(d.values for d in self.dimensions))
        return [self._candidate(t, v) for t, v in zip(texts, values, strict=True)]

    def candidates(self) -> list[dict[str, Any]]:
        return [candidate.changes for candidate in self.grid()]

    def corners(self) -> list[Candidate]:
        """Lists' values combined with ranges' ends (at most ``MAX_CANDIDATES``): the candidates
        whose sizes bound all others', checked before an Optuna search starts."""
        ends = [
            list(zip(d.texts, d.values, strict=True)) if d.is_choice else [d.value(d.low), d.value(d.high)]
            for d in self.dimensions
        ]
        combos = itertools.islice(itertools.product(*ends), MAX_CANDIDATES)
        return [self._candidate([t for t, _ in combo], [v for _, v in combo]) for combo in combos]

    def sample(self, count: int, rng: np.random.Generator) -> list[Candidate]:
        """``count`` candidates drawn at random; lists only: distinct ones, at most the grid."""
        if self.is_grid:
            size = len(self)
            if count >= size:
                return self.grid()
            picks = rng.choice(size, size=count, replace=False)
            return [self._at(int(index)) for index in picks]
        drawn = [[d.sample(rng) for d in self.dimensions] for _ in range(count)]
        return [self._candidate([t for t, _ in pairs], [v for _, v in pairs]) for pairs in drawn]

    def suggest(self, trial: Any) -> Candidate:
        pairs = [d.suggest(trial) for d in self.dimensions]
        return self._candidate([t for t, _ in pairs], [v for _, v in pairs])

    def from_stored(self, params: dict[str, Any]) -> Candidate:
        missing = [d.name for d in self.dimensions if d.name not in params]
        if missing or len(params) != len(self.dimensions):
            raise CLIError(f"--storage: a stored trial varies {sorted(params)}, this search {self.names}")
        pairs = [d.from_stored(params[d.name]) for d in self.dimensions]
        return self._candidate([t for t, _ in pairs], [v for _, v in pairs])

    def _at(self, index: int) -> Candidate:
        """The candidate at ``index`` of ``grid()`` (mixed radix, the last dimension fastest)."""
        texts, values = [], []
        for d in reversed(self.dimensions):
            index, i = divmod(index, len(d.values))
            texts.append(d.texts[i])
            values.append(d.values[i])
        return self._candidate(texts[::-1], values[::-1])

    def _candidate(self, texts: Any, values: Any) -> Candidate:
        names = self.names
        return Candidate(dict(zip(names, texts, strict=True)), dict(zip(names, values, strict=True)))


def candidate_settings(base: dict[str, Any], changes: dict[str, Any]) -> TabularSettings:
    """The settings of one candidate: the run's own (``base``) with the candidate's changes."""
    try:
        return TabularSettings(**{**base, **changes})
    except SettingError as error:
        raise flag_error(error) from None


def _text(number: float) -> str:
    """A number as typed: whole numbers without a point, others in their shortest exact form."""
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else repr(float(number))


def _convert(action: argparse.Action, token: str, item: str, flag: str) -> Any:
    try:
        value = action.type(token) if callable(action.type) else token
    except argparse.ArgumentTypeError as error:
        raise CLIError(f"{flag} {item}: {token!r}: {error}") from None
    if action.choices is not None and value not in action.choices:
        raise CLIError(f"{flag} {item}: {token!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def _searchable(action: argparse.Action) -> bool:
    """A flag that sets a model setting (``TabularSettings``), not where or how a run writes."""
    return bool(action.option_strings) and action.nargs != 0 and action.dest in TabularSettings.field_names()


def _number_kind(name: str) -> str | None:
    """ "float" or "int" for a setting that takes one number, None for others (names, layer lists)."""
    annotation = {f.name: str(f.type) for f in dataclasses.fields(TabularSettings)}[name]
    kind = annotation.split(" | ")[0]
    return kind if kind in ("float", "int") else None


def parse_space(parser: Parser, items: list[tuple[str, str]], ranges: bool = True) -> Space:
    """``(flag, NAME=VALUES)`` items (``flag`` is ``--grid`` or ``--space``, for messages) as a Space.

    NAME is a flag without its dashes (``learning_rate``, ``learning-rate`` and ``lr`` are one).
    """
    spellings = {name.lstrip("-").replace("-", "_"): action for name, action in parser.actions.items()}
    space = Space()
    for flag, item in items:
        name, equals, listed = item.partition("=")
        key = name.strip().lstrip("-").replace("-", "_")
        action = spellings.get(key)
        if not equals or not listed.strip():
            example = "learning_rate=0.01,0.1" if flag == "--grid" else "learning_rate=log:1e-4:1e-1"
            raise CLIError(f"{flag} {item!r}: expected NAME=V1,V2,... such as {example}")
        if action is None or not _searchable(action) or action.dest in NOT_IN_SPACE:
            allowed = sorted({a.dest for a in spellings.values() if _searchable(a)} - NOT_IN_SPACE)
            raise CLIError(
                f"{flag} {item}: {name!r} is not a setting a search can vary; choose from {allowed}"
            )
        if action.dest in space.names:
            raise CLIError(f"{flag} {item}: {action.dest} is already in the search; list all its values once")
        kind, colon, rest = listed.strip().partition(":")
        if colon and kind in RANGES:
            if not ranges:
                raise CLIError(
                    f"{flag} {item}: a grid tries listed values only; for a range use --strategy random "
                    "or optuna"
                )
            space.dimensions.append(_range(action, kind, rest, flag, item))
        else:
            space.dimensions.append(
                _choices(action, rest if colon and kind == "choice" else listed, flag, item)
            )
    return space


def _range(action: argparse.Action, kind: str, rest: str, flag: str, item: str) -> Dimension:
    taken = _number_kind(action.dest)
    if taken is None:
        raise CLIError(f"{flag} {item}: {action.dest} is not one number; list its values: {action.dest}=A,B")
    if RANGES[kind] != taken:
        forms = "int:LOW:HIGH or logint:LOW:HIGH" if taken == "int" else "uniform:LOW:HIGH or log:LOW:HIGH"
        what = "whole numbers" if taken == "int" else "any number"
        raise CLIError(f"{flag} {item}: {action.dest} takes {what}; use {forms}")
    ends = rest.split(":")
    if len(ends) != 2 or not all(e.strip() for e in ends):
        raise CLIError(f"{flag} {item}: expected {kind}:LOW:HIGH such as {action.dest}={kind}:1:100")
    low, high = (_convert(action, end.strip(), item, flag) for end in ends)
    if not low < high:
        raise CLIError(f"{flag} {item}: LOW must be below HIGH, got {low} and {high}")
    if kind in ("log", "logint") and low <= 0:
        raise CLIError(f"{flag} {item}: a log range needs LOW > 0, got {low}")
    return Dimension(action.dest, kind, low=float(low), high=float(high), action=action)


def _choices(action: argparse.Action, listed: str, flag: str, item: str) -> Dimension:
    several = action.nargs in ("+", "*")
    texts = [t.strip() for t in listed.split(";" if several and ";" in listed else ",")]
    if any(not t for t in texts):
        raise CLIError(f"{flag} {item}: an empty value; separate values with ','")
    values = []
    for text in texts:
        tokens = text.replace(",", " ").split() if several else [text]
        converted = [_convert(action, token, item, flag) for token in tokens]
        values.append(converted if several else converted[0])
    if len(set(map(repr, values))) != len(values):
        raise CLIError(f"{flag} {item}: a value is listed twice")
    shown = tuple(" ".join(t.replace(",", " ").split()) for t in texts)
    return Dimension(action.dest, "choice", shown, tuple(values), action=action)
