"""The registry of topics: name -> derive function and its parameter schema.

Each topic module exposes ``SUMMARY`` (one line), ``PARAMETERS`` (a tuple of
:class:`Parameter`) and ``derive(**params) -> Derivation``. Modules are imported
only when a topic is used, so ``import symderiv`` stays cheap.

Example::

    >>> from symderiv import topics
    >>> d = topics.derive("backprop", widths=(3, 4, 1))
"""

from __future__ import annotations

import functools
import importlib
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from symderiv.errors import InputError

TOPIC_MODULES: dict[str, str] = {
    "backprop": "symderiv.topics.backprop",
    "convexity": "symderiv.topics.convexity",
    "initialization": "symderiv.topics.initialization",
    "normalization": "symderiv.topics.normalization",
}

_KINDS = ("int", "float", "str", "ints", "bool")


@dataclass(frozen=True)
class Parameter:
    """One parameter of a topic: its type, default, allowed values and meaning.

    ``kind`` is ``int``, ``float``, ``str``, ``bool`` or ``ints`` (a tuple of
    integers, written ``3,4,1`` on the command line).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"parameter {self.name}: kind must be one of {_KINDS}")

    def convert(self, value: Any) -> Any:
        """Turn a Python value or command-line text into this parameter's type."""
        try:
            converted = self._convert(value)
        except (TypeError, ValueError):
            raise InputError(
                f"{self.name}={value!r} is not a valid {self._kind_phrase()}; {self.help}"
            ) from None
        if self.choices and converted not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise InputError(f"{self.name}={value!r} is not allowed; choose one of: {allowed}")
        return converted

    def _convert(self, value: Any) -> Any:
        if self.kind == "ints":
            if isinstance(value, str):
                parts = [p for p in value.replace(" ", "").split(",") if p]
                if not parts:
                    raise ValueError(value)
                return tuple(int(p) for p in parts)
            return tuple(_whole(v) for v in value)
        if self.kind == "int":
            return int(value) if isinstance(value, str) else _whole(value)
        if self.kind == "float":
            if isinstance(value, bool):
                raise TypeError(value)
            return float(value)
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if not isinstance(value, str):
            raise TypeError(value)
        return value

    def _kind_phrase(self) -> str:
        return {
            "ints": "comma-separated list of integers (for example 3,4,1)",
            "int": "integer",
            "float": "number",
            "bool": "boolean (true or false)",
            "str": "string",
        }[self.kind]

    def describe(self) -> str:
        """One line for ``symderiv list``."""
        default = ",".join(map(str, self.default)) if self.kind == "ints" else self.default
        line = f"{self.name} ({self.kind}, default {default}): {self.help}"
        if self.choices:
            line += f" [{', '.join(map(str, self.choices))}]"
        return line


def _whole(value: Any) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(value)
    return int(value)


def names() -> list[str]:
    """The topic names, sorted."""
    return sorted(TOPIC_MODULES)


def module(name: str) -> ModuleType:
    """The module of topic ``name`` (imported on first use)."""
    if name not in TOPIC_MODULES:
        raise InputError(f"unknown topic {name!r}; choose one of: {', '.join(names())}")
    return importlib.import_module(TOPIC_MODULES[name])


def parameters(name: str) -> tuple[Parameter, ...]:
    """The parameter schema of topic ``name``."""
    return tuple(module(name).PARAMETERS)


def summary(name: str) -> str:
    """The one-line summary of topic ``name``."""
    return module(name).SUMMARY


def resolve(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check names, convert values and fill in defaults."""
    schema = {p.name: p for p in parameters(name)}
    unknown = sorted(set(params) - set(schema))
    if unknown:
        allowed = ", ".join(schema) or "none"
        raise InputError(
            f"topic {name!r} has no parameter {', '.join(map(repr, unknown))}; allowed: {allowed}"
        )
    return {
        key: spec.convert(params[key]) if key in params else spec.default
        for key, spec in schema.items()
    }


def derive(name: str, **params: Any):
    """Derive topic ``name`` with ``params`` (defaults filled in); cached."""
    resolved = resolve(name, params)
    return _derive_cached(name, tuple(sorted(resolved.items())))


@functools.lru_cache(maxsize=64)
def _derive_cached(name: str, frozen: tuple[tuple[str, Any], ...]):
    return module(name).derive(**dict(frozen))


class _TopicsModule(ModuleType):
    """Lets ``symderiv.topics()`` list the topics while ``symderiv.topics`` stays a package."""

    def __call__(self) -> list[str]:
        return names()


sys.modules[__name__].__class__ = _TopicsModule
