"""Registries of named things: methods, formats, metrics, architectures, strategies.

The names registered here are the CLI choices and the app's menus. Look-up is
case-insensitive and treats ``-`` and ``_`` alike; a wrong name lists the valid ones and
suggests the closest.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from segscope.errors import ParameterError

__all__ = ["Registry", "suggest"]

T = TypeVar("T")


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def suggest(name: str, choices: list[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string.

    Examples
    --------
    >>> suggest("otsu2", ["otsu", "li"])
    " (did you mean 'otsu'?)"
    """
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry(Generic[T]):
    """An ordered mapping from string names to objects, refusing duplicate names.

    Parameters
    ----------
    kind : str
        What the registry holds, used in error messages ("method", "format", ...).

    Examples
    --------
    >>> methods = Registry("method")
    >>> @methods.register("double")
    ... def double(x):
    ...     return 2 * x
    >>> methods.get("DOUBLE")(2)
    4
    >>> methods.list("d*")
    ['double']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator that registers an object under ``name`` (and optional aliases)."""

        def decorator(obj: T) -> T:
            self.add(name, obj, aliases=aliases)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, aliases: tuple[str, ...] = ()) -> None:
        """Register ``obj`` under ``name``; raise if the name is taken."""
        key = _key(name)
        for k in (key, *map(_key, aliases)):
            if k in self._items or k in self._aliases:
                raise ParameterError(f"{self.kind} name '{k}' is already registered; pick another")
        self._items[key] = obj
        for alias in aliases:
            self._aliases[_key(alias)] = key

    def get(self, name: str) -> T:
        """Return the object registered under ``name``.

        Raises
        ------
        ParameterError
            If no object has that name; the message lists the valid names.
        """
        key = _key(name)
        key = self._aliases.get(key, key)
        if key not in self._items:
            names = list(self._items)
            raise ParameterError(
                f"unknown {self.kind} '{name}'{suggest(key, names)}; valid {self.kind}s: {', '.join(names)}"
            )
        return self._items[key]

    def list(self, pattern: str | None = None) -> list[str]:
        """Names registered, in registration order, filtered by a shell wildcard pattern."""
        names = list(self._items)
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, _key(pattern))]
        return names

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _key(name)
        return key in self._items or key in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())
