"""``Container``: the base of every module made of child modules (Torch7's ``nn.Container``).

It checks that no module object is placed twice, zeroes its children, prints them, and runs every
call into a child through ``call_child``, which attaches the failing child's place to any error
raised inside it (Torch7's ``rethrowErrors``) as a note, so the exception keeps its type, message
and attributes:

    ValueError: Dense(4 -> 5) expected input with 4 features, got shape (3, 7)
      in Sequential[1] Dense(4 -> 5)
      in Residual.module Sequential
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from typing_extensions import override

from tinynet.core.checks import add_note, one_line
from tinynet.core.module import Module

T = TypeVar("T")


def check_distinct(modules: Sequence[Module], owner: str) -> None:
    """Reject a non-Module child, and the same module object placed twice (its cache would be overwritten)."""
    seen: dict[int, int] = {}
    for index, module in enumerate(modules):
        if not isinstance(module, Module):
            raise TypeError(f"{owner}: child {index} must be a Module, got {type(module).__name__}")
        for inner in module.modules():
            if id(inner) in seen:
                raise ValueError(
                    f"{owner}: {one_line(inner)} appears more than once (child {seen[id(inner)]} and "
                    f"child {index}); its forward cache would be overwritten. Use "
                    "module.clone(share_parameters=True) to reuse its weights in a second place"
                )
            seen[id(inner)] = index


class Container(Module):
    """Base class of modules made of child modules.

    A subclass refuses a module placed twice among its children (``check_distinct``; ``Graph``
    gives a second use of a module its own shared-weight clone instead) and makes every call into
    a child through ``call_child``.
    """

    def call_child(self, name: str | int, method: Callable[[Any], T], value: Any) -> T:
        """``method(value)`` of the child ``name``; an error raised inside it gets a note naming the
        child (its name in ``named_children``, or its index), and keeps its type and attributes."""
        try:
            return method(value)
        except Exception as error:
            self.add_context(error, str(name))
            raise

    def add_context(self, error: BaseException, name: str) -> None:
        """Note on ``error`` which child (by its name in ``named_children``) it was raised in."""
        child = dict(self.named_children()).get(name)
        place = f"[{name}]" if name.isdigit() else f".{name}"
        add_note(error, f"  in {type(self).__name__}{place} {one_line(child) if child is not None else ''}")

    @override
    def zero_grad(self) -> None:
        for _, child in self.named_children():
            child.zero_grad()

    @override
    def input_width(self) -> int | None:
        """The first child's declared width, looking past element-wise children that keep it."""
        for child in self.children():
            width = child.input_width()
            if width is not None or not child.preserves_width:
                return width
        return None

    @override
    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = [f"{type(self).__name__}({extra}" if extra else f"{type(self).__name__}("]
        for name, child in self.named_children():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)
