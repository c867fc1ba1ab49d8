"""The exceptions symderiv raises.

Wrong user input is an :class:`InputError`, which is also a :class:`ValueError`
so that callers who do not know symderiv can still catch it.
"""

from __future__ import annotations


class SymderivError(Exception):
    """Base class of every error symderiv raises on purpose."""


class InputError(SymderivError, ValueError):
    """A parameter, shape or expression the user gave is not allowed.

    The message says what was given, what is allowed, and how to fix it.
    """


class UnknownResultError(InputError, KeyError):
    """A result name a derivation does not have; also a KeyError, as for any mapping."""

    def __str__(self) -> str:  # KeyError would quote the whole sentence
        return str(self.args[0]) if self.args else ""


class TexError(SymderivError):
    """TeX is missing, or a generated document did not compile."""
